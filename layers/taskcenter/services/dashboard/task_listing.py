"""Dashboard task listings: GET /api/task/self (the caller's) and GET /api/task/ (admin), as new-api.

Query parameters (newapi-task-center.md): p, page_size (aliases ps, size), platform, task_id, status,
action, start_timestamp, end_timestamp (seconds, on submit_time); admin adds channel_id. Rules for bad
values (docs/listing.md): p < 1 -> 1, page_size 0 -> 20, > 100 -> 100 (as new-api clamps); a negative
page_size, non-numeric numbers, an unknown status, a timestamp in milliseconds, start after end: 400.
"""

from __future__ import annotations

from typing import Any

from taskcenter import script_secrets, settings
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_plan import ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.services.core import platform_registry
from taskcenter.services.core.auth import Principal
from taskcenter.store.models import Task

INTERNAL_PROPERTY_PREFIX = "_"  # properties["_submit"] and friends are the engine's, never shown
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


def public_properties(task: Task) -> dict[str, Any]:
    """What a listing shows of a task's properties: not the engine's, and every secret masked (a v1 login's
    password: script_secrets.mask)."""
    props = task.properties or {}
    return script_secrets.mask({k: v for k, v in props.items() if not str(k).startswith(INTERNAL_PROPERTY_PREFIX)})


def _shown(task: Task) -> dict[str, Any]:
    """What a platform put on the task for the dashboards (task.extra["shown"]: video's new-api platform value
    and result path, set at creation)."""
    extra = task.extra.as_dict() if hasattr(task.extra, "as_dict") else dict(task.extra or {})
    shown = extra.get("shown")
    return shown if isinstance(shown, dict) else {}


def item_view(task: Task, *, admin: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": int(task.id),
        "created_at": int(task.created_at or 0),
        "updated_at": int(task.updated_at or 0),
        "task_id": task.task_id,
        "platform": task.platform,
        "user_id": int(task.user_id),
        "quota": int(task.quota or 0),
        "action": task.action,
        "status": task.status,
        "fail_reason": task.fail_reason or "",
        "submit_time": int(task.submit_ms or 0) // 1000,
        "start_time": int(task.start_ms or 0) // 1000,
        "finish_time": int(task.finish_ms or 0) // 1000,
        "progress": task.progress or "0%",
        "properties": public_properties(task),
        "data": task.data if task.data is not None else {},
    }
    shown = _shown(task)
    item["platform"] = shown.get("listing_platform") or task.platform
    if shown.get("result_path") and task.status == states.SUCCESS:  # TaskDto.result_url (omitempty)
        item["result_url"] = settings.get().public_base_url + str(shown["result_path"])
    if admin:
        item["channel_id"] = int(task.channel_id or 0)
        item["username"] = task.username or ""  # new-api's admin listing names the owner
    return item


def list_page(params: dict[str, str | None], principal: Principal, *, admin: bool) -> dict[str, Any]:
    filters, page, page_size, task_id = parse_filters(params, principal, admin=admin)
    tasks, total = listings.list_tasks(filters, page, page_size, task_id=task_id)
    return {"items": [item_view(t, admin=admin) for t in tasks], "total": total, "page": page,
            "page_size": page_size}
