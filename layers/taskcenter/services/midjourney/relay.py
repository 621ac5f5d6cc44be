"""Midjourney relay (midjourney-proxy protocol, as new-api relays it): validation, customId parsing,
parent-task rules, submission and reply shaping. docs/midjourney.md describes the surface.

- Every submit creates one task (kind "mj", platform "midjourney"), priced per action
  (`mj_<action>`: mj_imagine, mj_upscale, ...; INPAINT is free: it only opens a modal, and the modal
  submission is what costs), charged and refunded exactly like Suno (services.submission).
- An action on an earlier task (`/action`, `/change`) needs that task to be the caller's and SUCCESS;
  a stored state that is not yet SUCCESS is refreshed from the upstream once (one list-by-condition
  for that id, applied through the engine) before refusing. `/modal` needs the task to wait in MODAL.
  The new task goes to the parent's channel, with the parent's upstream id.
- Fetches show midjourney-proxy's camelCase task; `imageUrl` is forwarded through this service
  (`/mj/image/{id}`) unless forwarding is off (services.image_proxy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from taskcenter import settings
from taskcenter.domain import channel_status, numbers, states
from taskcenter.domain.errors import BadInput, DomainError, NoChannel, NotFound, UpstreamRejected
from taskcenter.observability import logger
from taskcenter.providers.base import UpstreamError
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import idempotency, submission, task_events
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.core.platform_registry import provider_for
from taskcenter.services.core.upstream_state import apply_upstream_state
from taskcenter.services.midjourney import notify
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

PLATFORM = "midjourney"
KIND = "mj"
MAX_PROMPT = 8000
MAX_STATE = 1000
MAX_IDS = 100
BOT_TYPES = ("MID_JOURNEY", "NIJI_JOURNEY")
DIMENSIONS = ("PORTRAIT", "SQUARE", "LANDSCAPE")
CHANGE_ACTIONS = ("UPSCALE", "VARIATION", "REROLL")

# midjourney-proxy reply codes
CODE_OK = 1
CODE_BAD_REQUEST = 4


class MjRefused(DomainError):
    """A relay refusal with midjourney-proxy's numeric code."""

    http_status = 400
    code = "invalid_request"

    def __init__(self, message: str, mj_code: int = CODE_BAD_REQUEST, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.mj_code = mj_code
        self.http_status = http_status


@dataclass(frozen=True)
class MjSubmission:
    kind: str  # upstream submit path: imagine | action | blend | describe | modal | shorten | change
    action: str  # our task action: IMAGINE, UPSCALE, VARIATION, ...
    body: dict[str, Any]  # what goes to the upstream (taskId added by the adapter)
    properties: dict[str, Any] = field(default_factory=dict)  # request facts the surfaces show
    parent_id: str = ""  # our id of the task this acts on
    parent_status: str = ""  # the parent status this needs (SUCCESS, or MODAL for a modal)
    notify_hook: str = ""  # the client's callback URL: gets the task object on each change (docs/webhooks.md)

    @property
    def model_name(self) -> str:
        return f"mj_{self.action.lower()}"


# ---------------------------------------------------------------- validation
def _text(body: dict[str, Any], name: str, *, required: bool = False, limit: int = MAX_PROMPT) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadInput(f"{name} is required", field=name)
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string", field=name)
    value = value.strip()
    if required and not value:
        raise BadInput(f"{name} must not be blank", field=name)
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", field=name)
    return value


# ASCII only: `\s` would also take Unicode spaces (U+3000 is 3 bytes in the body, 6 as stored), not base64.
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+$", re.ASCII)


def _image(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _DATA_URL.match(value):
        raise BadInput(f"{name} must be a base64 data URL (data:image/png;base64,...)", field=name)
    return value


def _images(body: dict[str, Any], name: str, *, low: int, high: int) -> list[str]:
    value = body.get(name)
    if value is None and low == 0:
        return []
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise BadInput(f"{name} must be a list of {low} to {high} base64 images", field=name)
    return [_image(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _common(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fields every submit accepts: state (echoed back), botType (notifyHook: `notify_hook`)."""
    state = _text(body, "state", limit=MAX_STATE)
    bot_type = _text(body, "botType", limit=32) or "MID_JOURNEY"
    if bot_type not in BOT_TYPES:
        raise BadInput(f"botType must be one of {', '.join(BOT_TYPES)}", field="botType")
    return {"botType": bot_type}, {"state": state, "botType": bot_type}


def _id_as_text(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Ids are numeric strings; clients that send them as JSON numbers are understood too."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return {**body, name: str(value)}
    return body


def action_of_custom_id(custom_id: str) -> tuple[str, int]:
    """(action, index) for a button's customId, as new-api maps them; BadInput for an unknown one.

    MJ::JOB::upsample::2::<hash> -> UPSCALE 2; MJ::JOB::variation::1::<hash> -> VARIATION 1;
    low_variation / high_variation / reroll / pan_* -> LOW_VARIATION / HIGH_VARIATION / REROLL / PAN;
    MJ::Outpaint::... -> ZOOM; MJ::CustomZoom::... -> CUSTOM_ZOOM; MJ::Inpaint::... -> INPAINT.
    """
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        raise MjRefused(f"unknown_action: customId {custom_id[:100]!r} is not a Midjourney button")
    name = parts[2] if parts[1].upper() == "JOB" else parts[1]

    def index_at(i: int) -> int:
        raw = parts[i] if len(parts) > i else ""
        if not numbers.is_ascii_int(raw, max_digits=1) or not 1 <= int(raw) <= 4:  # "²" / "٣": not an index
            raise MjRefused(f"unknown_action: customId {custom_id[:100]!r} has no button index 1-4")
        return int(raw)

    if "upsample" in name:
        return "UPSCALE", index_at(3)
    if name == "variation":
        return "VARIATION", index_at(3)
    if name == "low_variation":
        return "LOW_VARIATION", 1
    if name == "high_variation":
        return "HIGH_VARIATION", 1
    if "reroll" in name:
        return "REROLL", 1
    if "pan" in name:
        return "PAN", 1
    fixed = {"Outpaint": "ZOOM", "CustomZoom": "CUSTOM_ZOOM", "Inpaint": "INPAINT"}
    if name in fixed:
        return fixed[name], 1
    raise MjRefused(f"unknown_action: {custom_id[:100]}")


def parse_submission(kind: str, body: dict[str, Any]) -> MjSubmission:
    """Validate one submit body. Raises BadInput / MjRefused (code 4) before anything is written."""
    upstream, props = _common(body)
    if kind == "imagine":
        prompt = _text(body, "prompt", required=True)
        images = _images(body, "base64Array", low=0, high=5)
        upstream.update(prompt=prompt, base64Array=images)
        props.update(prompt=prompt, images=len(images))
        return MjSubmission(kind, "IMAGINE", upstream, props)
    if kind == "blend":
        images = _images(body, "base64Array", low=2, high=5)
        dimensions = (_text(body, "dimensions", limit=16) or "SQUARE").upper()
        if dimensions not in DIMENSIONS:
            raise BadInput(f"dimensions must be one of {', '.join(DIMENSIONS)}", field="dimensions")
        upstream.update(base64Array=images, dimensions=dimensions)
        props.update(prompt="", images=len(images), dimensions=dimensions)
        return MjSubmission(kind, "BLEND", upstream, props)
    if kind == "describe":
        image = _image(body.get("base64"), "base64")
        upstream.update(base64=image)
        props.update(prompt="", images=1)
        return MjSubmission(kind, "DESCRIBE", upstream, props)
    if kind == "shorten":
        prompt = _text(body, "prompt", required=True)
        upstream.update(prompt=prompt)
        props.update(prompt=prompt)
        return MjSubmission(kind, "SHORTEN", upstream, props)
    parent_id = _text(_id_as_text(body, "taskId"), "taskId", required=True, limit=64)
    if kind == "action":
        custom_id = _text(body, "customId", required=True, limit=500)
        action, index = action_of_custom_id(custom_id)
        upstream.update(customId=custom_id)
        props.update(customId=custom_id, index=index)
        return MjSubmission(kind, action, upstream, props, parent_id, states.SUCCESS)
    if kind == "change":
        action = _text(body, "action", required=True, limit=32).upper()
        if action not in CHANGE_ACTIONS:
            raise BadInput(f"action must be one of {', '.join(CHANGE_ACTIONS)}", field="action")
        index = body.get("index")
        if action == "REROLL" and index in (None, ""):
            index = 0
        if isinstance(index, bool) or not isinstance(index, int) or not (0 if action == "REROLL" else 1) <= index <= 4:
            raise BadInput("index must be an integer from 1 to 4", field="index")
        upstream.update(action=action, index=index)
        props.update(index=index)
        return MjSubmission(kind, action, upstream, props, parent_id, states.SUCCESS)
    if kind == "modal":
        prompt = _text(body, "prompt")
        mask = body.get("maskBase64")
        if mask not in (None, ""):
            upstream.update(maskBase64=_image(mask, "maskBase64"))
        upstream.update(prompt=prompt)
        props.update(prompt=prompt)
        return MjSubmission(kind, "MODAL", upstream, props, parent_id, states.MODAL)
    raise NotFound(f"unknown Midjourney submit action {kind!r}")


# ---------------------------------------------------------------- parent tasks
def own_task(principal: Principal, task_id: str) -> Task:
    """The caller's Midjourney task, or NotFound (another user's task is not found either)."""
    task = task_store.get(task_id) if task_id and len(task_id) <= 64 else None
    if not owns(principal, task, kind=KIND):
        raise MjRefused(f"task_not_found: task {task_id[:64]} does not exist", http_status=404)
    return task


def refresh_from_upstream(task: Task) -> Task:
    """Bring one unfinished task up to date with its upstream (one batch fetch of one id).

    Failures to reach the upstream leave the stored state as it is (the caller then decides on it).
    """
    if task.status in states.TERMINAL or not task.upstream_id or not int(task.channel_id or 0):
        return task
    channel = channel_service.get_channel(int(task.channel_id))
    if not channel_status.follows_its_tasks(channel):  # a disabled channel still answers for its tasks
        return task
    try:
        reply = provider_for(channel_service.info(channel)).fetch([task.upstream_id])
    except UpstreamError as error:
        logger.warning("parent refresh failed", extra={"task_id": task.task_id, "reason": error.message})
        return task
    state = reply.get(task.upstream_id)
    if state is not None:
        apply_upstream_state(task, state)  # refreshes `task` in memory when it wrote
    return task


def require_parent(principal: Principal, request: MjSubmission) -> Task:
    parent = own_task(principal, request.parent_id)
    if parent.status != request.parent_status:
        parent = refresh_from_upstream(parent)
    if parent.status != request.parent_status:
        need = "task_status_not_success" if request.parent_status == states.SUCCESS else "task_status_not_modal"
        raise MjRefused(f"{need}: task {parent.task_id} is {mj_status(parent.status)}; "
                        f"{request.action} needs it to be {request.parent_status}")
    if request.kind == "action":
        buttons = {b.get("customId") for b in _buttons(parent)}
        if buttons and request.body["customId"] not in buttons:
            raise MjRefused(f"customId is not one of the buttons of task {parent.task_id}")
    if not int(parent.channel_id or 0) or not parent.upstream_id:
        raise MjRefused(f"task {parent.task_id} never reached an upstream; nothing to act on")
    channel = channel_service.get_channel(int(parent.channel_id))
    if not channel_status.takes_new_tasks(channel):
        raise NoChannel(f"the channel of task {parent.task_id} is no longer available")
    return parent


# ---------------------------------------------------------------- submission
def submit(principal: Principal, kind: str, body: dict[str, Any],
           idempotency_key: str | None = None) -> idempotency.Outcome:
    """Validate, charge, create and hand to the upstream; `.value` is midjourney-proxy's submit reply.

    With an Idempotency-Key, a repeated request gets the first reply (one task, one charge).
    """
    request = replace(parse_submission(kind, body), notify_hook=notify.notify_hook(body))
    return idempotency.run_once("mj-submit", user_id=principal.user_id, key=idempotency_key,
                                request={"kind": kind, "body": body},
                                produce=lambda: _submit_parsed(principal, request))


def _submit_parsed(principal: Principal, request: MjSubmission) -> dict[str, Any]:
    spec_fields: dict[str, Any] = {}
    channel_id, upstream_parent = 0, ""
    properties = dict(request.properties)
    if request.parent_id:
        parent = require_parent(principal, request)
        channel_id, upstream_parent = int(parent.channel_id), parent.upstream_id
        spec_fields["parent_task_id"] = parent.task_id
    if request.notify_hook:
        spec_fields["extra"] = {task_events.HOOK_FIELD: request.notify_hook}
        if not properties.get("prompt"):  # an action shows the prompt it works on, as midjourney-proxy does
            properties["prompt"] = str((parent.properties or {}).get("prompt") or "")
    spec = submission.TaskSpec(
        platform=PLATFORM, kind=KIND, action=request.action, model_name=request.model_name,
        payload={"kind": request.kind, "body": request.body}, properties=properties,
        channel_id=channel_id, upstream_parent_id=upstream_parent, fields=spec_fields,
    )
    try:
        task = submission.submit_now(principal, spec)
    except UpstreamRejected as error:
        raise MjRefused(error.message, _upstream_code(error.message)) from error
    submitted = submission.extra_of(task).get("mj_submit") or {}
    code = int(submitted.get("code") or CODE_OK)
    return {"code": code, "description": str(submitted.get("description") or "Submit success"),
            "result": task.task_id, "properties": {}}


def _upstream_code(message: str) -> int:
    found = re.search(r"\[([0-9]{1,3})\]", message)
    return int(found.group(1)) if found else CODE_BAD_REQUEST


# ---------------------------------------------------------------- views
MJ_VIEW_STATUS = {states.QUEUED: states.SUBMITTED, states.UNKNOWN: states.IN_PROGRESS}


def mj_status(status: str) -> str:
    return MJ_VIEW_STATUS.get(status, status)


def _extra(task: Task) -> dict[str, Any]:
    return submission.extra_of(task)


def _buttons(task: Task) -> list[dict[str, Any]]:
    buttons = _extra(task).get("buttons") or []
    return [dict(b.as_dict() if hasattr(b, "as_dict") else b) for b in buttons]


def upstream_image_url(task: Task) -> str:
    return str(_extra(task).get("image_url") or "")


def image_url(task: Task, base_url: str) -> str:
    """What clients see: the forwarding URL (when on and there is an image), else the upstream's."""
    upstream = upstream_image_url(task)
    if not upstream:
        return ""
    if settings.get().mj_forward_images and base_url:
        return f"{base_url}/mj/image/{task.task_id}"
    return upstream


def task_view(task: Task, base_url: str) -> dict[str, Any]:
    """midjourney-proxy's task object (camelCase) for fetch and list-by-condition."""
    props = task.properties or {}
    extra = _extra(task)
    final_prompt = str(extra.get("final_prompt") or extra.get("prompt_en") or props.get("prompt") or "")
    return {
        "id": task.task_id,
        "action": task.action,
        "customId": str(props.get("customId") or ""),
        "botType": str(props.get("botType") or ""),
        "prompt": str(props.get("prompt") or ""),
        "promptEn": str(extra.get("prompt_en") or ""),
        "description": str(extra.get("description") or (extra.get("mj_submit") or {}).get("description") or ""),
        "state": str(props.get("state") or ""),
        "submitTime": int(task.submit_ms or 0),
        "startTime": int(task.start_ms or 0),
        "finishTime": int(task.finish_ms or 0),
        "imageUrl": image_url(task, base_url),
        "videoUrl": "",
        "videoUrls": [],
        "status": mj_status(task.status),
        "progress": task.progress or "0%",
        "failReason": task.fail_reason or "",
        "buttons": _buttons(task),
        "maskBase64": "",
        "properties": {"finalPrompt": final_prompt, "finalZhPrompt": ""},
    }


def hook_payload(task: Task) -> dict[str, Any]:
    """What a notifyHook receives (services/midjourney/notify.py): the task object, as fetch shows it."""
    return task_view(task, settings.get().public_base_url.rstrip("/"))


def fetch(principal: Principal, task_id: str, base_url: str) -> dict[str, Any]:
    return task_view(own_task(principal, task_id), base_url)


def list_by_condition(principal: Principal, body: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    """The caller's tasks among `ids` (others' and unknown ids are left out), in the order asked."""
    ids = body.get("ids")
    if isinstance(ids, list):  # numeric ids sent as JSON numbers are understood too
        ids = [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in ids]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadInput("ids must be a list of task ids", field="ids")
    if len(ids) > MAX_IDS:
        raise BadInput(f"at most {MAX_IDS} ids per request", field="ids")
    wanted = [i for i in dict.fromkeys(ids) if i and len(i) <= 64]
    found = {t.task_id: t for t in task_store.get_many(wanted)
             if owns(principal, t, kind=KIND)}
    return [task_view(found[i], base_url) for i in wanted if i in found]
