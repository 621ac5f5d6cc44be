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

import json
from typing import Any

from taskcenter import settings
from taskcenter.domain import states, video_pricing
from taskcenter.domain.errors import BadInput, NotFound
from taskcenter.services.core import idempotency, submission
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.video import openai_videos, requests
from taskcenter.store.repositories import current as repositories

KLING = "kling"
KLING_LISTING_PLATFORM = "50"  # new-api's channel type for Kling
KLING_DURATIONS = ("5", "10")
_ASPECT = {"1280x720": "16:9", "1920x1080": "16:9", "720x1280": "9:16", "1080x1920": "9:16"}
MAX_METADATA_BYTES = 16 * 1024


class TaskNotExist(NotFound):
    http_status = 400
    code = "task_not_exist"


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    """`metadata`: an object, or a JSON string of one (new-api accepts both); `model` never (price bypass)."""
    value = body.get("metadata")
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise BadInput("metadata must be an object or a JSON string of one", field="metadata") from error
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise BadInput(f"metadata must be an object of at most {MAX_METADATA_BYTES} bytes", field="metadata")
    return {k: v for k, v in value.items() if k not in ("model", "model_name")}


def _seconds(body: dict[str, Any]) -> str | None:
    for name in ("seconds", "duration"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() \
                or not 0 <= int(value) <= 3600:
            raise BadInput(f"{name} must be a number of seconds from 0 to 3600", code="invalid_seconds", field=name)
        return str(int(value))
    return None


def _kling_spec(principal: Principal, body: dict[str, Any], model: str) -> submission.TaskSpec:
    prompt = requests.prompt_of(body)
    meta = _metadata(body)
    image = body.get("image") or (body.get("images") or [None])[0] or body.get("input_reference")
    if image is not None and (not isinstance(image, str) or len(image) > 256 * 1024):
        raise BadInput("image must be a URL or base64 string", field="image")
    duration = str(meta.get("duration") or _seconds(body) or "5")
    mode = str(meta.get("mode") or body.get("mode") or "std")
    if duration not in KLING_DURATIONS or mode not in ("std", "pro"):
        raise BadInput("Kling takes duration 5 or 10 and mode std or pro", field="duration")
    payload = {"cfg_scale": 0.5, "aspect_ratio": _ASPECT.get(str(body.get("size") or ""), "1:1"), **meta,
               "model_name": model, "prompt": prompt, "mode": mode, "duration": duration,
               **({"image": image} if image else {})}
    try:
        quota = video_pricing.quota_for(model, mode, float(duration), principal.group)
    except KeyError as error:
        raise BadInput(f"no price is configured for {model}", field="model") from error
    task_id = openai_videos.new_video_id()
    shown = {"listing_platform": KLING_LISTING_PLATFORM, "result_path": f"/v1/videos/{task_id}/content"}
    return submission.TaskSpec(
        platform=KLING, kind="task", action="generate" if image else "textGenerate",
        model_name=f"{video_pricing.PREFIX}{model}", payload=payload, task_id=task_id, channel_model=model,
        properties={"input": prompt, "model": model, "seconds": duration, "size": mode},
        payload_from_properties={"prompt": "input"}, quota=quota, fields={"extra": {"shown": shown}})


def _sora_request(body: dict[str, Any], model: str) -> requests.CreateRequest:
    seconds = _seconds(body)
    reference = body.get("input_reference") or body.get("image") or (body.get("images") or [None])[0]
    return requests.parse_json({"prompt": body.get("prompt"), "model": model, "size": body.get("size"),
                                "seconds": seconds, **({"input_reference": reference} if reference else {})})


def submit(principal: Principal, body: dict[str, Any], idempotency_key: str | None = None) -> idempotency.Outcome:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadInput("model is required", code="missing_model", field="model")
    if requests.family(model) is not None:
        outcome = openai_videos.create(principal, _sora_request(body, model), idempotency_key)
        return idempotency.Outcome({**outcome.value, "task_id": outcome.value["id"]}, outcome.replayed)
    if not model.startswith("kling-"):
        raise BadInput(f"no video platform serves model {model[:64]}", code="model_not_found", field="model")
    spec = _kling_spec(principal, body, model)
    key = idempotency.check_key(idempotency_key)

    def produce() -> dict[str, Any]:
        task = submission.submit_now(principal, spec)
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


def task_dto(task: Any) -> dict[str, Any]:
    """new-api's TaskDto (times in seconds; `result_url` once SUCCESS: our content route)."""
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
        dto["result_url"] = settings.get().public_base_url + str(shown["result_path"])
    return dto


def fetch(principal: Principal, task_id: str) -> dict[str, Any]:
    task = repositories().tasks.get(task_id) if task_id and len(task_id) <= 128 else None
    if not owns(principal, task) or task.platform not in openai_videos.VIDEO_PLATFORMS:
        raise TaskNotExist("task_not_exist")
    return task_dto(task)
