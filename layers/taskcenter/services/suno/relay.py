"""Suno relay (new-api compatible): request validation, submission and reply shaping.

    POST /suno/submit/{music|lyrics}  -> {"code":"success","message":"","data":"task_..."}
    POST /suno/fetch {"ids": [...]}   -> {"code":"success","message":"","data":[task, ...]}
    GET  /suno/fetch/{task_id}        -> {"code":"success","message":"","data":task}

A task as the relay shows it is new-api's TaskDto (core/task_dto.py: twenty keys, the real channel_id).
The submit reply's `message` is the upstream's. Error codes and HTTP statuses are new-api's
(newapi-relay-wire.md §2.3), listed in docs/suno.md; docs/compatibility.md gives where we differ.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskcenter.domain.errors import (
    BadInput,
    DomainError,
    GatewayRefusal,
    InsufficientQuota,
    NoChannel,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
)
from taskcenter.providers.base import PermanentUpstreamError, UpstreamError
from taskcenter.services.core import idempotency, submission, task_dto
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.results import serving as results_serving
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

ACTIONS = {"music": ("MUSIC", "suno_music"), "lyrics": ("LYRICS", "suno_lyrics")}
DEFAULT_MV = "chirp-v3-0"  # what new-api fills in when a music request names no model
MAX_FETCH_IDS = 1000

# The body fields new-api's SunoSubmitReq carries, with their JSON types; others are dropped.
_FIELDS: dict[str, tuple[type, ...]] = {
    "prompt": (str,),
    "gpt_description_prompt": (str,),
    "mv": (str,),
    "title": (str,),
    "tags": (str,),
    "continue_at": (int, float),
    "continue_clip_id": (str,),
    "task_id": (str,),  # continuation: passed to the upstream verbatim, as new-api does (docs/suno.md)
    "make_instrumental": (bool,),
}
_UPSTREAM_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # an upstream's refusal code is relayed only if it is one
_CHANNEL_CREDENTIAL_STATUSES = (401, 403)  # the channel's key refused: our business, never relayed
_BUSY_MESSAGE = "当前分组上游负载已饱和，请稍后再试"  # new-api's text for an upstream 429 (newapi-relay-wire.md 2.3)
# new-api's codes for a charge the payer cannot make (newapi-relay-wire.md §2.3; both HTTP 403)
_QUOTA_CODES = {"insufficient_user_quota": "insufficient_user_quota",
                "insufficient_token_quota": "pre_consume_token_quota_failed"}


@dataclass(frozen=True)
class TextLimits:
    """The upstream's length limits, in characters (docs/suno.md, "Limits and storage")."""

    prompt: int
    tags: int
    title: int


# Suno's documented limits per model version (sunoapi.org "Generate Suno AI Music"): V3_5/V4 prompt 3000,
# style (our `tags`) 200, title 80; V4_5 and later prompt 5000, style 1000, title 100.
_OLDER_LIMITS = TextLimits(prompt=3000, tags=200, title=80)
_NEWER_LIMITS = TextLimits(prompt=5000, tags=1000, title=100)
_OLDER_MODEL = re.compile(r"(chirp-)?v[1-3]([-_.].*)?|(chirp-)?v4([-_.]0)?", re.IGNORECASE)
MAX_DESCRIPTION = 500  # gpt_description_prompt: the description ("non-custom") mode's prompt limit
MAX_MV = 64
MAX_CLIP_ID = 128  # clip ids are UUIDs (36 characters)
MAX_TASK_ID = 128  # a continued task's id: ours (task_ + 32) or an upstream's
MAX_CONTINUE_AT_S = 3600.0  # seconds into the clip (an hour); the longest documented clips are 8-9 minutes


def limits_for(mv: str) -> TextLimits:
    """chirp-v3-0 (the default), chirp-v3-5, chirp-v4 have the older limits; v4.5 and later (and any model
    we do not know, which is newer) the larger ones: never refuse what the upstream would take."""
    return _OLDER_LIMITS if _OLDER_MODEL.fullmatch(mv.strip()) else _NEWER_LIMITS


def _check_lengths(payload: dict[str, Any]) -> None:
    limits = limits_for(str(payload.get("mv") or DEFAULT_MV))
    bounds = {"prompt": limits.prompt, "tags": limits.tags, "title": limits.title,
              "gpt_description_prompt": MAX_DESCRIPTION, "mv": MAX_MV, "continue_clip_id": MAX_CLIP_ID,
              "task_id": MAX_TASK_ID}
    for name, limit in bounds.items():
        value = payload.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise BadInput(f"{name} is longer than {limit} characters ({len(value)})", field=name)
    at = payload.get("continue_at")
    if at is not None and not (math.isfinite(at) and 0 <= at <= MAX_CONTINUE_AT_S):
        raise BadInput(f"continue_at must be a number of seconds from 0 to {MAX_CONTINUE_AT_S:g}",
                       field="continue_at")


class SunoRefusal(DomainError):
    """An error in new-api's Suno shape with its code and HTTP status (newapi-relay-wire.md §2.3)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.http_status = status


def _refusal(error: UpstreamRejected | UpstreamUnavailable) -> SunoRefusal | None:
    """The upstream refused, as new-api answers it (newapi-relay-wire.md 2.3): a non-2xx reply (a 4xx, or the
    last channel's 429/5xx) is its HTTP status with `fail_to_fetch_task` and the upstream's body as the message
    when safe to relay (providers/relayable.py; else our words; a 429's is new-api's fixed text); a 2xx refusal
    is HTTP 500 with the upstream's own `code`, in our words (its text can name its accounts or keys). None:
    not an upstream's answer (timeouts, connection errors, the channel's credential refused: do_request_failed).
    The refused task is withdrawn with its charge (services/core/submission.py); only if the sweeper failed it
    first does it exist, refunded, and the message names it (docs/compatibility.md, "Suno relay")."""
    cause = error.__cause__
    status = cause.status if isinstance(cause, UpstreamError) else 0
    task_id = getattr(error, "task_id", "")
    message = f"{error.message} (task {task_id} failed and was refunded)" if task_id else error.message
    if status and not 200 <= status < 300 and status not in _CHANNEL_CREDENTIAL_STATUSES:
        text = cause.body if isinstance(cause.body, str) and cause.body.strip() else message
        return SunoRefusal(_BUSY_MESSAGE if status == 429 else text, code="fail_to_fetch_task", status=status)
    if not isinstance(cause, PermanentUpstreamError):
        return None
    body = cause.body if isinstance(cause.body, dict) else {}
    code = str(body.get("code") or "")
    return SunoRefusal(message, code=code if _UPSTREAM_CODE.fullmatch(code) else "fail_to_fetch_task", status=500)


class TaskNotExist(NotFound):
    """new-api answers an unknown (or someone else's) task with HTTP 400 and code task_not_exist."""

    http_status = 400
    code = "task_not_exist"


def parse_action(raw: str) -> tuple[str, str]:
    """(ACTION, pricing model) for the path segment, case-insensitively."""
    found = ACTIONS.get((raw or "").strip().lower())
    if found is None:
        raise BadInput(f"invalid_action: {raw[:40]!r} is not a Suno action (music, lyrics)", field="action")
    return found


def validate_body(action: str, body: dict[str, Any]) -> dict[str, Any]:
    """The upstream payload: known fields only, each of the right type; lyrics needs a prompt."""
    payload: dict[str, Any] = {}
    for name, types in _FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool in types) != isinstance(value, bool):
            kind = "a boolean" if bool in types else "a number" if int in types else "a string"
            raise BadInput(f"{name} must be {kind}", field=name)
        if value == "" or (name == "continue_at" and value == 0):
            continue  # new-api forwards a string only when non-empty, continue_at when non-zero (wire 2.1)
        payload[name] = value
    if action == "LYRICS" and not str(payload.get("prompt") or "").strip():
        raise BadInput("prompt_empty: lyrics requires a prompt", field="prompt")
    if action == "MUSIC" and not payload.get("mv"):
        payload["mv"] = DEFAULT_MV
    _check_lengths(payload)
    return payload


def task_spec(action: str, model_name: str, payload: dict[str, Any]) -> submission.TaskSpec:
    """The task: the properties the dashboard shows carry the prompt (`input`), title and tags once; the
    stored payload keeps only what they do not (submission.TaskSpec.payload_from_properties)."""
    prompt_field = next((n for n in ("prompt", "gpt_description_prompt") if payload.get(n)), "")
    properties = {"input": payload[prompt_field] if prompt_field else "", "model": model_name}
    shared = {prompt_field: "input"} if prompt_field else {}
    for name in ("mv", "title", "tags", "make_instrumental", "continue_clip_id"):
        if name in payload:
            properties[name] = payload[name]
            shared[name] = name
    return submission.TaskSpec(platform="suno", kind="task", action=action, model_name=model_name,
                               payload=payload, properties=properties, channel_model=model_name,
                               payload_from_properties=shared)


def submit(principal: Principal, raw_action: str, body: dict[str, Any],
           idempotency_key: str | None = None) -> idempotency.Outcome:
    """Validate, charge and submit. Returns {"task_id": ...} (replayed for a repeated Idempotency-Key)."""
    action, model_name = parse_action(raw_action)
    payload = validate_body(action, body)
    key = idempotency.check_key(idempotency_key)

    def produce() -> dict[str, Any]:
        try:
            task = submission.submit_now(principal, task_spec(action, model_name, payload))
        except InsufficientQuota as error:
            raise SunoRefusal(error.message, code=_QUOTA_CODES.get(error.code, "insufficient_user_quota"),
                              status=403) from error
        except NoChannel as error:  # new-api's distributor: before any charge, in the gateway's shape
            raise GatewayRefusal(f"No available channel for model {model_name} under group {principal.group}",
                                 status=503, gateway_code="model_not_found") from error
        except (UpstreamRejected, UpstreamUnavailable) as error:
            refusal = _refusal(error)
            if refusal is not None:
                raise refusal from error
            task_id = getattr(error, "task_id", "")
            detail = f" (task {task_id} failed and was refunded)" if task_id else ""
            raise SunoRefusal(f"{error.message}{detail}", code="do_request_failed", status=502) from error
        message = str(submission.extra_of(task).get("submit_message") or "")
        return {"task_id": task.task_id, "message": message}

    return idempotency.run_once("suno-submit", user_id=principal.user_id, key=key,
                                request={"action": action, "payload": payload}, produce=produce)


# A clip's URL fields the result keeper copies (docs/results.md), and the variant each is kept as.
RESULT_FIELDS = {"audio_url": "audio", "image_url": "image"}
MAX_KEPT_CLIPS = 8  # Suno answers two clips per music task


def result_urls(task: Task) -> dict[str, str]:
    """The platform row's hook: `<clip index>.<audio|image>` -> the upstream's URL."""
    clips = task.data if isinstance(task.data, list) else []
    out: dict[str, str] = {}
    for n, clip in enumerate(clips[:MAX_KEPT_CLIPS]):
        for name, variant in RESULT_FIELDS.items():
            url = clip.get(name) if isinstance(clip, dict) else None
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                out[f"{n}.{variant}"] = url
    return out


def kept_data(task: Task, base_url: str) -> Any:
    """`data` with each kept file's URL pointing at our result route (a redirect to the kept copy), so a
    client reading audio_url/image_url gets a URL that outlives the upstream's."""
    kept = results_serving.kept_variants(task)
    if not kept or not base_url or not isinstance(task.data, list):
        return task.data
    clips = []
    for n, clip in enumerate(task.data):
        if isinstance(clip, dict):
            clip = dict(clip)
            for name, variant in RESULT_FIELDS.items():
                if f"{n}.{variant}" in kept:
                    clip[name] = f"{base_url}/suno/result/{task.task_id}/{n}.{variant}"
        clips.append(clip)
    return clips


def task_view(task: Task, base_url: str = "") -> dict[str, Any]:
    """new-api's TaskDto, as its relay fetch shows it: the real channel_id, no username; kept files link to
    our result route (docs/results.md)."""
    return task_dto.task_dto(task, show_channel=True, show_username=False, base_url=base_url)


def _visible(task: Task | None, principal: Principal) -> bool:
    return owns(principal, task, platform="suno")


def fetch_one(principal: Principal, task_id: str, base_url: str = "") -> dict[str, Any]:
    task = repositories().tasks.get(task_id) if task_id and len(task_id) <= 128 else None
    if not _visible(task, principal):
        raise TaskNotExist("task_not_exist")
    assert task is not None
    return task_view(task, base_url)


def fetch_many(principal: Principal, body: dict[str, Any], base_url: str = "") -> list[dict[str, Any]]:
    """The caller's Suno tasks among `ids`, in the order asked; unknown and others' ids are left out.
    (new-api answers in its row order; the order asked is one a client can rely on, docs/compatibility.md.)"""
    ids = body.get("ids")
    if ids is None:
        return []
    # new-api takes strings or numbers (an id a client parsed as a number); anything else is a 400
    if not isinstance(ids, list) or not all(isinstance(i, str | int) and not isinstance(i, bool) for i in ids):
        raise BadInput("ids must be a list of task ids", field="ids")
    ids = [str(i) for i in ids]
    if len(ids) > MAX_FETCH_IDS:
        raise BadInput(f"at most {MAX_FETCH_IDS} ids per request", field="ids")
    wanted = [i for i in dict.fromkeys(ids) if i and len(i) <= 128]
    found = {t.task_id: t for t in repositories().tasks.get_many(wanted) if _visible(t, principal)}
    return [task_view(found[i], base_url) for i in wanted if i in found]


def result_task(task_id: str) -> Task | None:
    """The Suno task a public result URL names (its random task id is the URL's only secret, as the
    upstream's own file URLs; docs/results.md)."""
    task = repositories().tasks.get(task_id) if task_id and len(task_id) <= 128 else None
    return task if task is not None and task.platform == "suno" else None
