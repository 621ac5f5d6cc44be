"""Dashboard task listings: GET /api/task/self (the caller's) and GET /api/task/ (admin), as new-api.

Query parameters (newapi-task-center.md): p, page_size (aliases ps, size), platform, task_id, status,
action, start_timestamp, end_timestamp (seconds, on submit_time); admin adds channel_id. Rules for bad
values (docs/listing.md): p < 1 -> 1, page_size 0 -> 20, > 100 -> 100 (as new-api clamps); a negative
page_size, non-numeric numbers, an unknown status, a timestamp in milliseconds, start after end: 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter.domain import states
from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_plan import ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.services.core import platform_registry, task_dto
from taskcenter.services.core.auth import Principal

if TYPE_CHECKING:
    from taskcenter.store.models import Task

# Suno's actions are stored upper-case (as new-api); accept them in any case in a filter.
_CASE_FOLDED_ACTIONS = {"music": "MUSIC", "lyrics": "LYRICS"}


def _text(params: dict[str, str | None], name: str) -> str | None:
    value = params.get(name)
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if len(value) > 128:
        raise BadInput(f"{name} is too long", field=name)
    return value


def _platform(value: str | None) -> str | None:
    """new-api's platform values for video are channel type numbers ("55" Sora): our platform name for them
    (the platform table is read only for such a value: cold start)."""
    if value is None or not value.isdigit():
        return value
    return platform_registry.from_listing_name(value)


def parse_filters(params: dict[str, str | None], principal: Principal, *, admin: bool
                  ) -> tuple[ListingFilters, int, int, str | None]:
    """(filters, page, page_size, task_id) for one listing request; BadInput for what cannot make sense."""
    page, page_size = listings.parse_paging(params)
    status = _text(params, "status")
    if status is not None:
        status = status.upper()
        if status not in states.ALL_STATUSES:
            raise BadInput(f"status must be one of {', '.join(states.ALL_STATUSES)}", field="status")
    action = _text(params, "action")
    if action is not None:
        action = _CASE_FOLDED_ACTIONS.get(action.lower(), action)
    channel_id = None
    if admin:
        channel_id = listings.parse_int(params.get("channel_id"), "channel_id")
        if channel_id is not None and channel_id < 0:
            raise BadInput("channel_id must be a channel id", field="channel_id")
        if channel_id == 0:
            channel_id = None  # new-api: 0 means no filter
    start_ms, end_ms = listings.parse_time_range(params)
    filters = ListingFilters(
        kind="task",
        user_id=None if admin else principal.user_id,
        platform=_platform(_text(params, "platform")),
        action=action,
        status=status,
        channel_id=channel_id,
        start_ms=start_ms,
        end_ms=end_ms,
    )
    return filters, page, page_size, _text(params, "task_id")


def item_view(task: Task, *, admin: bool, base_url: str = "") -> dict[str, Any]:
    """new-api's TaskDto; the user listing shows channel_id 0, the admin listing the owner's username;
    kept result files link to our result routes (docs/results.md)."""
    return task_dto.task_dto(task, show_channel=admin, show_username=admin, base_url=base_url)


def list_page(params: dict[str, str | None], principal: Principal, *, admin: bool,
              base_url: str = "") -> dict[str, Any]:
    filters, page, page_size, task_id = parse_filters(params, principal, admin=admin)
    tasks, total = listings.list_tasks(filters, page, page_size, task_id=task_id)
    return {"items": [item_view(t, admin=admin, base_url=base_url) for t in tasks], "total": total, "page": page,
            "page_size": page_size}
