"""new-api's own video routes (docs/video.md, "new-api routes"), in new-api's envelope `{code, message, data}`.

    POST /v1/video/generations              TaskSubmitReq -> the video object (id = task_id = our public id)
    GET  /v1/video/generations/{task_id}    -> {"code": "success", "message": "", "data": TaskDto}
    POST /kling/v1/videos/{text2video|image2video}   Kling's own body -> as /v1/video/generations
    GET  /kling/v1/videos/{text2video|image2video}/{task_id} -> new-api's envelope with the TaskDto (as
         new-api answers it: not Kling's envelope)

The model picks the platform: sora-2* -> Sora (the OpenAI Videos API's rules), kling-* -> Kling. Not found
(or someone else's): HTTP 400 `task_not_exist`, as new-api.
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, NotFound
from taskcenter.services.core import idempotency, submission
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.video import openai_videos, platform_specs, requests, sent_images
from taskcenter.store.repositories import current as repositories


class TaskNotExist(NotFound):
    http_status = 400
    code = "task_not_exist"


def _sora_request(body: dict[str, Any], model: str) -> requests.CreateRequest:
    seconds = platform_specs.seconds_of(body)
    reference = body.get("input_reference") or body.get("image") or platform_specs.first_image(body)
    return requests.parse_json({"prompt": body.get("prompt"), "model": model, "size": body.get("size"),
                                "seconds": seconds, **({"input_reference": reference} if reference else {})})


def submit(principal: Principal, body: dict[str, Any], idempotency_key: str | None = None) -> idempotency.Outcome:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadInput("model is required", code="missing_model", field="model")
    if requests.family(model) is not None:
        outcome = openai_videos.create(principal, _sora_request(body, model), idempotency_key)
        return idempotency.Outcome({**outcome.value, "task_id": outcome.value["id"]}, outcome.replayed)
    builder = platform_specs.builder_for(model)
    if builder is None:
        raise BadInput(f"no video platform serves model {model[:64]}", code="model_not_found", field="model")
    spec = platform_specs.build(builder, principal, body, model)
    key = idempotency.check_key(idempotency_key)

    def produce() -> dict[str, Any]:
        task = sent_images.submit_now(principal, spec)
        return {"id": task.task_id, "task_id": task.task_id, "object": "video", "model": model,
                "status": "queued", "progress": 0, "created_at": int(task.submit_ms) // 1000}

    return idempotency.run_once("video-generations", user_id=principal.user_id, key=key,
                                request={k: v for k, v in spec.payload.items() if k != "image"}, produce=produce)


def kling_native(principal: Principal, action: str, body: dict[str, Any],
                 idempotency_key: str | None = None) -> idempotency.Outcome:
    """Kling's own body, as new-api's middleware converts it: model from model_name (default kling-v1), the
    whole body as metadata; image2video needs an image."""
    if action not in ("text2video", "image2video"):
        raise BadInput("action must be text2video or image2video", field="action")
    if action == "image2video" and not body.get("image"):
        raise BadInput("image2video needs an image", field="image")
    model = str(body.get("model_name") or body.get("model") or "kling-v1")
    meta = {k: v for k, v in body.items() if k not in ("prompt", "image")}
    converted = {"model": model, "prompt": body.get("prompt"), "image": body.get("image"), "metadata": meta}
    return submit(principal, converted, idempotency_key)


def task_dto(task: Any, base_url: str) -> dict[str, Any]:
    """new-api's TaskDto (times in seconds; `result_url` once SUCCESS: our content route, absolute under
    `base_url`, the request's or PUBLIC_BASE_URL: functions/_http.base_url)."""
    extra = submission.extra_of(task)
    shown = extra.get("shown") if isinstance(extra.get("shown"), dict) else {}
    dto: dict[str, Any] = {
        "id": int(task.id), "created_at": int(task.created_at or 0), "updated_at": int(task.updated_at or 0),
        "task_id": task.task_id, "platform": shown.get("listing_platform") or task.platform,
        "user_id": int(task.user_id), "group": task.group or "default", "channel_id": int(task.channel_id or 0),
        "quota": int(task.quota or 0), "action": task.action, "status": task.status,
        "fail_reason": task.fail_reason or "", "submit_time": int(task.submit_ms or 0) // 1000,
        "start_time": int(task.start_ms or 0) // 1000, "finish_time": int(task.finish_ms or 0) // 1000,
        "progress": task.progress or "0%",
        "properties": {k: v for k, v in (task.properties or {}).items() if not str(k).startswith("_")},
        "data": task.data if task.data not in (None, {}) else None,
    }
    if task.status == states.SUCCESS and shown.get("result_path"):
        dto["result_url"] = base_url + str(shown["result_path"])
    return dto


def fetch(principal: Principal, task_id: str, base_url: str) -> dict[str, Any]:
    task = repositories().tasks.get(task_id) if task_id and len(task_id) <= 128 else None
    if not owns(principal, task) or task.platform not in openai_videos.VIDEO_PLATFORMS:
        raise TaskNotExist("task_not_exist")
    return task_dto(task, base_url)
