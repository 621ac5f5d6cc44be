"""Task events for webhooks (docs/webhooks.md): built and queued by the winner of a write, never by storage.

`core/lifecycle.move` calls `emitted` after a won transition, `upstream_state` after a won progress write,
and the refund paths after the refund transaction that moved the money; a racing loser never gets here,
so each winning transition is one event. The event goes to the `webhook` queue as one message; the
delivery worker (services/webhooks/delivery.py) fans it out to the user's endpoints and the task's own
hook and retries each delivery. Platform-generic: a platform row may add `event_data` (more fields in
`data`) and `hook_payload` (the body its per-task hook receives, e.g. midjourney-proxy's task object).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from taskcenter import clock, queues
from taskcenter.domain import webhook_rules
from taskcenter.observability import logger
from taskcenter.services.core import platform_registry
from taskcenter.store.models import Task

HOOK_FIELD = "notify_hook"  # Task.extra key: the task's own callback URL (notifyHook, callback_url)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _extra(task: Task) -> dict[str, Any]:
    value = task.extra  # PynamoDB may hand back a MapAttribute (as core/submission.extra_of reads it)
    return dict(value.as_dict()) if hasattr(value, "as_dict") else dict(value or {})


def task_data(task: Task) -> dict[str, Any]:
    """The event's `data`: the public task id and what a receiver acts on (thin-or-mixed, spec A.4)."""
    data: dict[str, Any] = {
        "task_id": task.task_id, "platform": task.platform, "action": task.action, "status": task.status,
        "progress": task.progress or "", "fail_reason": task.fail_reason or "", "attempt": int(task.attempt),
        "quota": int(task.quota or 0), "billing": task.billing,
        "submit_time": int(task.submit_ms or 0) // 1000, "finish_time": int(task.finish_ms or 0) // 1000}
    row = platform_registry.platform(task.platform)
    if row is not None and row.event_data is not None:
        data.update(row.event_data(task))
    return data


def build(task: Task, event_type: str, seq: int) -> dict[str, Any]:
    """The queue message for one event. `seq` orders a task's events (2 x version; +1 for the refund)."""
    now = clock.now_ms()
    event_id = webhook_rules.event_id(task.task_id, seq)
    body = {"id": event_id, "type": event_type, "timestamp": _iso(now), "data": task_data(task)}
    message: dict[str, Any] = {"kind": "event", "event_id": event_id, "type": event_type,
                               "user_id": int(task.user_id), "task_id": task.task_id, "seq": seq,
                               "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))}
    hook = str(_extra(task).get(HOOK_FIELD) or "")
    row = platform_registry.platform(task.platform)
    if hook and row is not None and row.hook_payload is not None:
        message["hook"] = {"url": hook, "body": json.dumps(row.hook_payload(task), ensure_ascii=False,
                                                          separators=(",", ":"))}
    return message


def emit(task: Task, event_type: str, seq: int) -> None:
    """Queue one event. Never breaks the write it follows: a failed enqueue is logged (docs/webhooks.md,
    "Guarantees")."""
    try:
        queues.send("webhook", build(task, event_type, seq))
    except Exception:
        logger.exception("webhook event enqueue failed", extra={"task_id": task.task_id, "type": event_type})


def moved(task: Task) -> None:
    """After a won transition (task holds the written state)."""
    event_type = webhook_rules.STATUS_EVENTS.get(task.status)
    if event_type is not None:
        emit(task, event_type, 2 * int(task.version))


def progressed(task: Task) -> None:
    """After a won same-status write of progress (already rate-limited by POLL_PROGRESS_MIN_INTERVAL_SECONDS)."""
    emit(task, webhook_rules.PROGRESS, 2 * int(task.version))


def refunded(task: Task) -> None:
    """After the refund transaction that moved the money (it does not change the task's version)."""
    emit(task, webhook_rules.REFUNDED, 2 * int(task.version) + 1)
