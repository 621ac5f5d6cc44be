"""Timeout sweeper (docs/engine.md): unfinished tasks past TASK_TIMEOUT_SECONDS (default 24 h, every
platform alike) become FAILURE and are refunded.

Candidates come from the deadline lanes of the sparse `due` index (due_at <= now, per shard; keys only; no
scan). The FAILURE move is the usual conditional transition (progress "100%", finish time, listing
counters) and also rewrites `data`, so nothing in the task still says "in progress": every nested
status that was an in-progress word becomes a failure, every progress becomes "100%", and the reason
is recorded beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.observability import logger, task_log_context
from taskcenter.services.core.lifecycle import fail_task
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

# Words upstreams use for "not finished" (Suno clip statuses, midjourney-proxy, TikMatrix, ours).
IN_PROGRESS_WORDS = frozenset({
    "not_start", "submitted", "queued", "queue", "in_progress", "in-progress", "inprogress", "processing",
    "running", "pending", "streaming", "waiting", "unknown", "modal", "started", "generating", "created",
})
STATUS_KEYS = frozenset({"status", "state", "task_status"})


def timeout_reason() -> str:
    hours = settings.get().task_timeout_seconds / 3600
    span = f"{hours:g} h" if hours >= 1 else f"{settings.get().task_timeout_seconds} s"
    return f"timeout: the task did not finish within {span}"


def settle_data(data: Any, reason: str) -> Any:
    """A copy of `data` in which nothing says "in progress" any more (see the module doc)."""

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in STATUS_KEYS and isinstance(item, str) and item.strip().lower() in IN_PROGRESS_WORDS:
                    out[key] = _failure_word(item)
                elif key == "progress" and isinstance(item, str):
                    out[key] = "100%"
                else:
                    out[key] = fix(item)
            return out
        if isinstance(value, list):
            return [fix(item) for item in value]
        return value

    fixed = fix(data)
    if isinstance(fixed, dict) or not fixed:
        fixed = dict(fixed or {})
        fixed.update({"status": states.FAILURE, "fail_reason": reason, "progress": "100%"})
    return fixed


def _failure_word(original: str) -> str:
    """Keep the upstream's casing style: SUNO clips say "error", our vocabulary says FAILURE."""
    if original.isupper():
        return states.FAILURE
    return "error"


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)


def due_deadlines(now_ms: int) -> list[str]:
    ids: list[str] = []
    for shard in range(settings.get().poll_shards):
        ids += repositories().tasks.past_deadline(f"s{shard}", now_ms, settings.get().sweep_limit)
    return ids


def sweep_timeouts() -> SweepReport:
    """The scheduled sweeper. A NOT_START task with a later scheduled start gets its deadline moved
    to start + limit instead (the limit counts from when it may start)."""
    now = clock.now_ms()
    report = SweepReport()
    for task in repositories().tasks.get_many(due_deadlines(now)):
        if task.status in states.TERMINAL:
            continue
        scheduled = int(task.scheduled_ms or 0)
        timeout_ms = settings.get().task_timeout_seconds * 1000
        if task.status == states.NOT_START and scheduled and scheduled + timeout_ms > now:
            if repositories().tasks.update(task, {"due_at": scheduled + timeout_ms}):
                report.deferred.append(task.task_id)
            continue
        with task_log_context(task.task_id):
            if time_out(task):
                report.timed_out.append(task.task_id)
    if report.timed_out:
        logger.info("timeout sweep", extra={"timed_out": len(report.timed_out)})
    return report


def time_out(task: Task) -> bool:
    """FAILURE by timeout, data settled, refund enqueued (by the winner only). True if this call won."""
    reason = timeout_reason()
    return fail_task(task, reason, changes={"data": settle_data(task.data, reason)})

