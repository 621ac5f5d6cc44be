"""Dashboard Midjourney listings: `GET /api/mj/self` (the caller's) and `GET /api/mj/` (admin, all).

Rows and envelope follow newapi-midjourney.md; paging and cost are the shared listing executor's
(services.listings: one Query per page, `total` from counters, a COUNT only for a time range).
Times are milliseconds, in filters and in rows (the MJ table mirrors midjourney-proxy).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taskcenter.domain import states
from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_plan import ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.services.core import task_dto
from taskcenter.services.core.auth import Principal
from taskcenter.services.midjourney import relay as mj_relay

if TYPE_CHECKING:
    from taskcenter.store.models import Task


def parse_query(params: dict[str, Any], *, admin: bool) -> tuple[ListingFilters, str | None, int, int]:
    """(filters, mj_id, page, page_size) from the query string; BadInput on garbage.

    Paging and time rules are the task listings' (listings.parse_paging / parse_time_range), with
    timestamps in milliseconds; channel_id 0 means no filter (as new-api).
    """
    page, page_size = listings.parse_paging(params)
    start_ms, end_ms = listings.parse_time_range(params, unit_ms=1)
    mj_id = str(params.get("mj_id") or "").strip() or None
    if mj_id is not None and len(mj_id) > 128:
        raise BadInput("mj_id is too long", field="mj_id")
    channel_id = listings.parse_int(params.get("channel_id"), "channel_id") if admin else None
    if channel_id is not None and channel_id < 0:
        raise BadInput("channel_id must be a channel id", field="channel_id")
    filters = ListingFilters(kind=mj_relay.KIND, start_ms=start_ms, end_ms=end_ms,
                             channel_id=channel_id if channel_id else None)
    return filters, mj_id, page, page_size


def submit_code(task: Task) -> int:
    """The row's `code`, as new-api keeps it: the submit reply's (1, 21 exists, 22 queued) until the upstream
    has shown the task running, then 1; 0 for a task that never reached the upstream ("not submitted")."""
    if not task.upstream_id:
        return 0
    if task.status in (states.NOT_START, states.SUBMITTED, states.QUEUED):
        submitted = mj_relay.submission.extra_of(task).get("mj_submit") or {}
        return int(submitted.get("code") or mj_relay.CODE_OK)
    return mj_relay.CODE_OK


def row(task: Task, base_url: str, *, admin: bool) -> dict[str, Any]:
    """new-api's raw MJ row (newapi-relay-wire.md §4.3): snake_case, times in ms, `video_urls`, `buttons` and
    `properties` as JSON strings; `user_id` and `channel_id` are shown to users too, as new-api does."""
    view = mj_relay.task_view(task, base_url)  # the relay's object: buttons, properties, state, description
    buttons = view.get("buttons") or []
    return {
        "id": int(task.id),
        "code": submit_code(task),
        "user_id": int(task.user_id),
        "action": task.action,
        "mj_id": task.task_id,
        "prompt": str(view.get("prompt") or ""),
        "prompt_en": str(view.get("promptEn") or ""),
        "description": str(view.get("description") or ""),
        "state": str(view.get("state") or ""),
        "submit_time": int(task.submit_ms or 0),
        "start_time": int(task.start_ms or 0),
        "finish_time": int(task.finish_ms or 0),
        "image_url": mj_relay.image_url(task, base_url),
        "video_url": str(view.get("videoUrl") or ""),
        "video_urls": json.dumps(view["videoUrls"]) if view.get("videoUrls") else "",
        "status": mj_relay.mj_status(task.status),
        "progress": task.progress or "0%",
        "fail_reason": task.fail_reason or "",
        "channel_id": int(task.channel_id or 0),
        "quota": task_dto.charged_quota(task),
        "buttons": json.dumps(buttons, ensure_ascii=False) if buttons else "",
        "properties": json.dumps(view.get("properties") or {}, ensure_ascii=False),
    }


def list_mj(principal: Principal, params: dict[str, Any], base_url: str, *, admin: bool) -> dict[str, Any]:
    filters, mj_id, page, page_size = parse_query(params, admin=admin)
    if not admin:
        filters = ListingFilters(kind=filters.kind, user_id=principal.user_id, start_ms=filters.start_ms,
                                 end_ms=filters.end_ms)
    tasks, total = listings.list_tasks(filters, page, page_size, task_id=mj_id)
    return {"items": [row(t, base_url, admin=admin) for t in tasks], "total": total, "page": page,
            "page_size": page_size}
