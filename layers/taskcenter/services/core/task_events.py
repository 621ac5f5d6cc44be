"""Task events for webhooks (docs/webhooks.md): queued from the tasks table's stream (services/jobs/task_stream.py).

The stream is the outbox: a record exists iff a write won, so a racing loser never gives an event, each
winning transition is one event, and an event is not lost when an enqueue fails right after the write (the
consumer retries the record). `events_of` reads the event off a record's old and new images (a move, a
progress write, a refund). The event goes to the `webhook` queue as one message; the
delivery worker (services/webhooks/delivery.py) fans it out to the user's endpoints and the task's own
hook and retries each delivery. Platform-generic: a platform row may add `event_data` (more fields in
`data`) and `hook_payload` (the body its per-task hook receives, e.g. midjourney-proxy's task object).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues
from taskcenter.domain import states, webhook_rules
from taskcenter.observability import logger
from taskcenter.services.core import platform_registry
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
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


def events_of(old: Task | None, new: Task | None) -> list[tuple[str, int]]:
    """The events one stream record of the tasks table stands for, as (type, seq): a won move to a status
    with an event, a won same-status write of progress (already rate-limited by
    POLL_PROGRESS_MIN_INTERVAL_SECONDS), a refund that moved the money (billing refund_pending -> refunded;
    it keeps the version). A creation or a deletion is no transition: no event."""
    if old is None or new is None:
        return []
    out: list[tuple[str, int]] = []
    version = int(new.version)
    if version != int(old.version):
        moved = new.status != old.status or int(new.channel_id or 0) != int(old.channel_id or 0)
        if moved:
            event_type = webhook_rules.STATUS_EVENTS.get(new.status)
            if event_type is not None:
                out.append((event_type, 2 * version))
        elif (new.progress or "") != (old.progress or ""):
            out.append((webhook_rules.PROGRESS, 2 * version))
    if old.billing == states.BILLING_REFUND_PENDING and new.billing == states.BILLING_REFUNDED:
        out.append((webhook_rules.REFUNDED, 2 * version + 1))
    return out


def emit_from_stream(records: list[tuple[str, Task | None, Task | None]]) -> tuple[int, str | None]:
    """Queue the events of stream records (sequence, old, new), in order, for users with a webhook endpoint
    or tasks with their own hook (one endpoint lookup per user per batch). Returns (sent, the sequence of
    the first record whose events could not be queued, or None)."""
    has_endpoint: dict[int, bool] = {}
    pending: list[tuple[str, dict[str, Any]]] = []
    for sequence, old, new in records:
        if new is None:
            continue
        for event_type, seq in events_of(old, new):
            user_id = int(new.user_id)
            if user_id not in has_endpoint:
                has_endpoint[user_id] = _has_endpoint(user_id)
            if has_endpoint[user_id] or _extra(new).get(HOOK_FIELD):
                pending.append((sequence, build(new, event_type, seq)))
    sent = 0
    for start in range(0, len(pending), 10):
        chunk = pending[start:start + 10]
        try:
            sent += queues.send_many("webhook", [message for _, message in chunk])
        except Exception:
            # Lambda retries from this record (docs/webhooks.md, "Guarantees"): its event keeps its id
            logger.exception("webhook event enqueue failed", extra={"task_id": chunk[0][1]["task_id"]})
            return sent, chunk[0][0]
    return sent, None


def _has_endpoint(user_id: int) -> bool:
    webhooks = repositories().webhooks
    return bool(webhooks is not None and webhooks.endpoints_of(user_id))
