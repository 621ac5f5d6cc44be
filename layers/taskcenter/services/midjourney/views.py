"""midjourney-proxy's task object (camelCase) for the relay's fetch and list-by-condition.

What the Dooy web client and new-api read (docs/compatibility.md, Midjourney): `videoUrls` is null when
there are none (an empty list hides the image there), `imageUrl` goes through this service's forwarding
route with a changing `rand` query until SUCCESS (progress previews are not cached), list-by-condition
takes ids as strings or numbers and is bounded by what one reply can carry, not by an id count.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from taskcenter import settings
from taskcenter.domain import lambda_limits, states
from taskcenter.domain.errors import BadInput, TooLarge
from taskcenter.services.core import submission
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.midjourney.requests import KIND
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

MJ_VIEW_STATUS = {states.QUEUED: states.SUBMITTED, states.UNKNOWN: states.IN_PROGRESS}
READ_BATCH = 100  # BatchGetItem's most keys per call
# The reply's envelope as the route sends it (functions._http.json_response plus the relay's CORS headers).
_REPLY_ENVELOPE = {"statusCode": 200, "multiValueHeaders": {}, "isBase64Encoded": False,
                   "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*",
                               "Access-Control-Allow-Headers": "*", "Access-Control-Expose-Headers": "*"}}


def mj_status(status: str) -> str:
    return MJ_VIEW_STATUS.get(status, status)


def buttons_of(task: Task) -> list[dict[str, Any]]:
    buttons = submission.extra_of(task).get("buttons") or []
    return [dict(b.as_dict() if hasattr(b, "as_dict") else b) for b in buttons]


def upstream_image_url(task: Task) -> str:
    return str(submission.extra_of(task).get("image_url") or "")


def image_url(task: Task, base_url: str, *, rand: bool = False) -> str:
    """What clients see: the forwarding URL (when on and there is an image), else the upstream's.

    `rand`: the relay adds `?rand=<ns>` until SUCCESS, as new-api does, so each poll loads the new preview.
    """
    upstream = upstream_image_url(task)
    if not upstream:
        return ""
    if settings.get().mj_forward_images and base_url:
        url = f"{base_url}/mj/image/{task.task_id}"
        return f"{url}?rand={time.time_ns()}" if rand and task.status != states.SUCCESS else url
    return upstream


def task_view(task: Task, base_url: str) -> dict[str, Any]:
    props = task.properties or {}
    extra = submission.extra_of(task)
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
        "imageUrl": image_url(task, base_url, rand=True),
        "videoUrl": "",
        "videoUrls": None,
        "status": mj_status(task.status),
        "progress": task.progress or "0%",
        "failReason": task.fail_reason or "",
        "buttons": buttons_of(task),
        "maskBase64": "",
        "properties": {"finalPrompt": final_prompt, "finalZhPrompt": ""},
    }


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("ids")
    if ids is None:  # `{}` or `"ids": null`: new-api answers [] (newapi-relay-wire.md 3.6)
        return []
    if isinstance(ids, list):  # the Dooy client sends numeric ids as JSON numbers
        ids = [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in ids]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadInput("ids must be a list of task ids (strings or numbers)", field="ids")
    return [i for i in dict.fromkeys(ids) if i and len(i) <= 64]


def most_ids() -> int:
    """More distinct ids than this could never be answered in one reply: even the smallest task view
    times this count exceeds what a Lambda response carries. Computed, not chosen (docs/midjourney.md)."""
    room = lambda_limits.response_room(_REPLY_ENVELOPE)
    smallest = 1 + lambda_limits.body_in_response_size(_smallest_view_text())
    return max(1, room // smallest)


def _smallest_view_text() -> str:
    empty = {"id": "", "action": "", "customId": "", "botType": "", "prompt": "", "promptEn": "",
             "description": "", "state": "", "submitTime": 0, "startTime": 0, "finishTime": 0, "imageUrl": "",
             "videoUrl": "", "videoUrls": None, "status": "", "progress": "", "failReason": "", "buttons": [],
             "maskBase64": "", "properties": {"finalPrompt": "", "finalZhPrompt": ""}}
    return json.dumps(empty, ensure_ascii=False, separators=(",", ":"))


def list_by_condition(principal: Principal, body: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    """The caller's tasks among `ids` (others' and unknown ids are left out), in the order asked.

    Bounded by cost: ids are read 100 per BatchGetItem; a request whose answer could not fit one Lambda
    response is refused (413) rather than cut short.
    """
    wanted = _ids(body)
    limit = most_ids()
    if len(wanted) > limit:
        raise TooLarge(f"at most {limit} distinct ids fit one reply; ask in smaller batches")
    room = lambda_limits.response_room(_REPLY_ENVELOPE) - 2
    found: dict[str, Task] = {}
    for start in range(0, len(wanted), READ_BATCH):
        for task in repositories().tasks.get_many(wanted[start:start + READ_BATCH]):
            if owns(principal, task, kind=KIND):
                found[task.task_id] = task
    views = [task_view(found[i], base_url) for i in wanted if i in found]
    used = 0
    for view in views:
        used += 1 + lambda_limits.body_in_response_size(json.dumps(view, ensure_ascii=False,
                                                                   separators=(",", ":")))
        if used > room:
            raise TooLarge("the tasks asked for do not fit one reply (Lambda's 6 MB response limit); "
                           "ask for fewer ids at once")
    return views
