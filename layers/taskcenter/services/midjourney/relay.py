"""Midjourney relay (midjourney-proxy protocol, as new-api relays it): validation, customId parsing,
parent-task rules, submission and reply shaping. docs/midjourney.md describes the surface.

- Every submit creates one task (kind "mj", platform "midjourney"), priced per action
  (`mj_<action>`: mj_imagine, mj_upscale, ...; INPAINT is free: it only opens a modal, and the modal
  submission is what costs), charged and refunded exactly like Suno (services.submission).
- An action on an earlier task (`/action`, `/change`) needs that task to be the caller's and SUCCESS;
  a stored state that is not yet SUCCESS is refreshed from the upstream once (one list-by-condition
  for that id, applied through the engine) before refusing. `/modal` needs the task to wait in MODAL.
  The new task goes to the parent's channel, with the parent's upstream id.
- Submit replies are new-api's: codes 21 and 22 become 1 (21 stays for INPAINT / CUSTOM_ZOOM, whose
  modal step is pending), the upstream's `properties` are relayed, and an upstream refusal (23, 24, ...)
  is HTTP 200 with the upstream's body; a non-2xx reply with a JSON body is relayed with its status (when safe:
  providers/relayable.py), one without a JSON body is new-api's 400 code 5. A refused submit costs nothing and
  leaves no task: its held task is withdrawn with its charge (services/core/submission.py).
- Fetches show midjourney-proxy's camelCase task (services.midjourney.views).
- Request validation lives in services.midjourney.requests.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskcenter import settings
from taskcenter.domain import channel_status, states
from taskcenter.domain.errors import NoChannel, UpstreamRejected, UpstreamUnavailable
from taskcenter.observability import logger
from taskcenter.providers.base import UpstreamError
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import idempotency, submission, task_events
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.core.platform_registry import fetch_states, provider_for
from taskcenter.services.core.upstream_state import apply_upstream_state
from taskcenter.services.midjourney import notify
from taskcenter.services.midjourney.requests import (  # noqa: F401 - re-exported: the relay's public names
    CODE_BAD_REQUEST,
    CODE_OK,
    KIND,
    PLATFORM,
    MjRefused,
    MjSubmission,
    action_of_custom_id,
    parse_submission,
    parse_upload,
    without_images,
)
from taskcenter.services.midjourney.views import (  # noqa: F401 - re-exported
    buttons_of,
    image_url,
    list_by_condition,
    mj_status,
    task_view,
    upstream_image_url,
)
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

# Submit codes new-api rewrites to 1 (relay/mjproxy_handler.go): 22 always, 21 except where a modal is pending.
CODE_EXISTS, CODE_QUEUED = 21, 22
MODAL_ACTIONS = frozenset({"INPAINT", "CUSTOM_ZOOM"})
MAX_PROPERTIES_BYTES = 8 * 1024  # the upstream's submit properties kept on the task (a few keys in practice)
REPLY_STATUS = "_http_status"  # in a submit reply value: the HTTP status to answer with (functions/mj.py pops it)
CHANNEL_CREDENTIAL_STATUSES = (401, 403)  # the channel's credential refused: our business, never relayed


# ---------------------------------------------------------------- parent tasks
def own_task(principal: Principal, task_id: str) -> Task:
    """The caller's Midjourney task, or NotFound (another user's task is not found either)."""
    task = repositories().tasks.get(task_id) if task_id and len(task_id) <= 64 else None
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
        reply = fetch_states(channel_service.info(channel), [task.upstream_id])
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
        buttons = {b.get("customId") for b in buttons_of(parent)}
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
           idempotency_key: str | None = None, base_url: str = "") -> idempotency.Outcome:
    """Validate, charge, create and hand to the upstream; `.value` is midjourney-proxy's submit reply.

    With an Idempotency-Key, a repeated request gets the first reply (one task, one charge).
    """
    request = replace(parse_submission(kind, body), notify_hook=notify.notify_hook(body))
    return idempotency.run_once("mj-submit", user_id=principal.user_id, key=idempotency_key,
                                request={"kind": kind, "body": body},
                                produce=lambda: _submit_parsed(principal, request, base_url))


def _submit_parsed(principal: Principal, request: MjSubmission, base_url: str = "") -> dict[str, Any]:
    spec_fields: dict[str, Any] = {}
    channel_id, upstream_parent = 0, ""
    properties = dict(request.properties)
    if request.parent_id:
        parent = require_parent(principal, request)
        channel_id, upstream_parent = int(parent.channel_id), parent.upstream_id
        spec_fields["parent_task_id"] = parent.task_id
        if not properties.get("prompt"):  # an action shows the prompt it works on, as midjourney-proxy does
            properties["prompt"] = str((parent.properties or {}).get("prompt") or "")
    if request.notify_hook:
        spec_fields["extra"] = {task_events.HOOK_FIELD: request.notify_hook, notify.BASE_FIELD: base_url}
    full = {"kind": request.kind, "body": request.body}
    kept, taken = without_images(request.body)
    stored = {"kind": request.kind, "body": kept, **({submission.IMAGES_NOT_KEPT: taken} if taken else {})}
    spec = submission.TaskSpec(
        platform=PLATFORM, kind=KIND, action=request.action, model_name=request.model_name,
        payload=stored, properties=properties,
        channel_id=channel_id, upstream_parent_id=upstream_parent, fields=spec_fields,
    )
    try:
        task = submission.submit_now(principal, spec, payload=full)
    except (UpstreamRejected, UpstreamUnavailable) as error:
        # relayed as the upstream answered, but never replayed for an Idempotency-Key: nothing was made or charged
        relayed = _relayed_non_2xx(error)
        if relayed is not None:
            raise idempotency.NotKept(relayed) from error
        refusal = _upstream_refusal(error)
        if refusal is not None:  # new-api relays the upstream's own answer: HTTP 200, its code (docs/compatibility.md)
            raise idempotency.NotKept(refusal) from error
        if isinstance(error, UpstreamRejected):
            raise MjRefused(error.message, _upstream_code(error.message)) from error
        raise
    submitted = submission.extra_of(task).get("mj_submit") or {}
    code = int(submitted.get("code") or CODE_OK)
    if code == CODE_QUEUED or (code == CODE_EXISTS and request.action not in MODAL_ACTIONS):
        code = CODE_OK
    props = submitted.get("properties")
    return {"code": code, "description": str(submitted.get("description") or "Submit success"),
            "result": task.task_id, "properties": dict(props) if isinstance(props, dict) else {}}


def _relayed_non_2xx(error: Exception) -> dict[str, Any] | None:
    """The last upstream's non-2xx answer as new-api relays it (newapi-relay-wire.md 3.3): its JSON body with
    its status (the provider put it in `body` only when safe to relay, else our words); no JSON body: new-api's
    400 code 5 `unmarshal_response_body_failed`. None when the cause was not a non-2xx reply (a timeout, a 2xx
    refusal) or was the channel's credential refused (401/403: the client's key is fine; answered as today)."""
    cause = error.__cause__
    status = cause.status if isinstance(cause, UpstreamError) else 0
    if not status or 200 <= status < 300 or status in CHANNEL_CREDENTIAL_STATUSES:
        return None
    if isinstance(cause.body, dict):
        return {**bounded_body(cause.body), REPLY_STATUS: status}
    raise MjRefused("unmarshal_response_body_failed", 5, http_status=400) from error


def bounded_body(value: dict[str, Any]) -> dict[str, Any]:
    """A relayed upstream body as JSON-safe data (relayable.py bounds it at 4 KB)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _upstream_refusal(error: Exception) -> dict[str, Any] | None:
    """The upstream's refusal body (HTTP 200 with a numeric code), as the relay answers it; else None.

    `result` is this service's id of the task when the upstream named one and the task still exists (a refused
    submit's task is withdrawn: None; the task survives only when the sweeper failed and refunded it first).
    """
    cause = error.__cause__
    body = cause.body if isinstance(cause, UpstreamError) else None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int) or isinstance(body.get("code"), bool):
        return None
    task_id = getattr(error, "task_id", "")
    props = body.get("properties")
    return {"code": int(body["code"]), "description": str(body.get("description") or ""),
            "result": task_id if body.get("result") not in (None, "") and task_id else None,
            "properties": bounded_properties(props)}


def bounded_properties(value: Any) -> dict[str, Any]:
    """An upstream `properties` object as JSON-safe data, or {} when it is not an object or is oversized."""
    if not isinstance(value, dict):
        return {}
    text = json.dumps(value, ensure_ascii=False, default=str)
    return json.loads(text) if len(text.encode("utf-8")) <= MAX_PROPERTIES_BYTES else {}


def _upstream_code(message: str) -> int:
    found = re.search(r"\[([0-9]{1,3})\]", message)
    return int(found.group(1)) if found else CODE_BAD_REQUEST


def image_seed(principal: Principal, task_id: str) -> dict[str, Any]:
    """`GET /mj/task/{id}/image-seed`: asked of the task's channel, its reply relayed (seed in `result`)."""
    task = own_task(principal, task_id)
    if not task.upstream_id or not int(task.channel_id or 0):
        raise MjRefused(f"task {task.task_id} never reached an upstream; it has no seed")
    channel = channel_service.get_channel(int(task.channel_id))
    if channel is None:
        raise NoChannel(f"the channel of task {task.task_id} is no longer available")
    provider = provider_for(channel_service.info(channel))
    try:
        reply = provider.image_seed(task.upstream_id)
    except UpstreamError as error:
        logger.warning("image seed failed", extra={"task_id": task.task_id, "reason": error.message})
        raise MjRefused(f"the upstream could not give the seed: {error.public or 'unavailable'}", 5,
                        http_status=502) from error
    return {"code": reply.get("code") if isinstance(reply.get("code"), int) else CODE_OK,
            "description": str(reply.get("description") or ""),
            "result": None if reply.get("result") is None else str(reply.get("result")),
            "properties": bounded_properties(reply.get("properties"))}


def upload(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """`POST /mj/submit/upload-discord-images`: relayed to the first channel that answers; no task, no charge.

    A staging step (the Dooy client uploads a reference image, then puts `result[0]` into a prompt): nothing
    to follow or refund, so no task is written (new-api writes a SUCCESS row and charges mj_upload; our
    price for it is 0). docs/compatibility.md, Midjourney.
    """
    images = parse_upload(body)
    last: UpstreamError | None = None
    for channel in channel_service.failover_order(PLATFORM, "mj_upload")[:settings.get().submit_channel_attempts]:
        try:
            reply = provider_for(channel).upload(images)
        except UpstreamError as error:
            logger.warning("upload failed, trying next channel", extra={"channel_id": channel.id,
                                                                       "reason": error.message})
            last = error
            continue
        result = reply.get("result")
        return {"code": int(reply["code"]), "description": str(reply.get("description") or ""),
                "result": [str(u) for u in result] if isinstance(result, list) else result,
                "properties": bounded_properties(reply.get("properties"))}
    if last is None:
        raise NoChannel("no enabled midjourney channel")
    raise MjRefused("every channel failed (upstream unavailable)", 5, http_status=502) from last


def hook_payload(task: Task) -> dict[str, Any]:
    """What a notifyHook receives (services/midjourney/notify.py): the task object, as fetch shows it."""
    base = settings.get().public_base_url.rstrip("/") or str(submission.extra_of(task).get(notify.BASE_FIELD) or "")
    return task_view(task, base)  # the links as the submit's fetch shows them


def fetch(principal: Principal, task_id: str, base_url: str) -> dict[str, Any]:
    return task_view(own_task(principal, task_id), base_url)

