"""new-api's `TaskDto`: a task as the Suno relay's fetch and the dashboard's task listings show it
(newapi-relay-wire.md §2.5; docs/compatibility.md, "Dashboard" and "Suno relay").

Twenty keys, the same on both surfaces except `channel_id` (the user listing shows 0) and `username` (the
admin listing only). `result_url` and `username` are left out when empty, as new-api's `omitempty` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter import script_secrets
from taskcenter.domain import states
from taskcenter.services.core import platform_registry

if TYPE_CHECKING:
    from taskcenter.store.models import Task

INTERNAL_PROPERTY_PREFIX = "_"  # properties["_submit"] and friends are the engine's, never shown


def charged_quota(task: Task) -> int:
    """What the task costs its owner now: 0 once refunded (new-api zeroes the row's quota on a refund)."""
    return 0 if task.billing == states.BILLING_REFUNDED else int(task.quota or 0)


def progress(task: Task) -> str:
    return task.progress or ("100%" if task.status in states.TERMINAL else "0%")


def public_properties(task: Task) -> dict[str, Any]:
    """What a reply shows of a task's properties: not the engine's, and every secret masked (a v1 login's
    password: script_secrets.mask)."""
    props = task.properties or {}
    return script_secrets.mask({k: v for k, v in props.items() if not str(k).startswith(INTERNAL_PROPERTY_PREFIX)})


def _shown(task: Task) -> dict[str, Any]:
    """What a platform put on the task for the dashboards (task.extra["shown"]: video's new-api platform value
    and result path, set at creation)."""
    extra = task.extra.as_dict() if hasattr(task.extra, "as_dict") else dict(task.extra or {})
    shown = extra.get("shown")
    return shown if isinstance(shown, dict) else {}


def task_dto(task: Task, *, show_channel: bool, show_username: bool, base_url: str = "") -> dict[str, Any]:
    model = task.model_name or ""
    # new-api's properties always carry input and the two model names (when known); ours add the request facts
    properties = {"input": "", **public_properties(task),
                  **({"upstream_model_name": model, "origin_model_name": model} if model else {})}
    item: dict[str, Any] = {
        "id": int(task.id),
        "created_at": int(task.created_at or 0),
        "updated_at": int(task.updated_at or 0),
        "task_id": task.task_id,
        "platform": _shown(task).get("listing_platform") or task.platform,  # video: new-api's numbers
        "user_id": int(task.user_id),
        "group": task.group or "",
        "channel_id": int(task.channel_id or 0) if show_channel else 0,
        "quota": charged_quota(task),
        "action": task.action,
        "status": task.status,
        "fail_reason": task.fail_reason or "",
        "submit_time": int(task.submit_ms or 0) // 1000,
        "start_time": int(task.start_ms or 0) // 1000,
        "finish_time": int(task.finish_ms or 0) // 1000,
        "progress": progress(task),
        "properties": properties,
        # null until the upstream gave a result; kept files link to our result routes (docs/results.md)
        "data": platform_registry.shown_data(task, base_url) if task.data not in (None, {}) else None,
    }
    result_path = _shown(task).get("result_path")
    if result_path and task.status == states.SUCCESS:  # video: our content route (docs/video.md)
        # absolute, as new-api's (the classic dashboard previews only an http(s) URL: newapi-relay-wire.md 4.4)
        item["result_url"] = base_url + str(result_path)
    elif item["fail_reason"]:  # new-api's fallback: the failure text (UIs read either)
        item["result_url"] = item["fail_reason"]
    if show_username and task.username:
        item["username"] = task.username
    return item
