"""Timeouts (docs/engine.md, "Timeouts"): unfinished tasks past TASK_TIMEOUT_SECONDS (default 24 h, every
platform alike) become FAILURE and are refunded.

Every open task carries its deadline (`due_at`). Where it is checked: a task in the poll index (every open
task but the tasks of a chunked create still being written; a relay submit's held task is in it, its deadline
the hold's expiry) by the poll dispatcher, on the items it reads every minute anyway (`overdue`,
`time_out_all`); a held task of a chunked create (store/held_create.py: the hold's expiry is its deadline) by
the sweeper, from the deadline lanes of the sparse `due` index (due_at <= now, per shard; keys only; no scan),
which hold nothing else: keeping every task in flight in a lane cost 2 index write units per task life, and
the relay submit's lane entry 2 more (docs/cost-model.md). The FAILURE move is the usual conditional
transition (progress "100%", finish time, listing counters) and also rewrites `data`, so nothing in the task
still says "in progress": every nested status that was an in-progress word becomes a failure, every progress
becomes "100%", and the reason is recorded beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.observability import logger, metrics, task_log_context
from taskcenter.services.core.lifecycle import fail_task
from taskcenter.store import item_size
from taskcenter.store.repositories import REMOVE
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


def deadline_ms(task: Task) -> int | None:
    """When an open task times out: its `due_at`, or for a NOT_START task with a later scheduled start,
    start + limit (the limit counts from when it may start). None: no deadline (a finished task)."""
    if task.due_at is None or task.status in states.TERMINAL:
        return None
    scheduled = int(task.scheduled_ms or 0)
    if task.status == states.NOT_START and scheduled:
        return max(int(task.due_at), scheduled + settings.get().task_timeout_seconds * 1000)
    return int(task.due_at)


def overdue(task: Task, now_ms: int) -> bool:
    deadline = deadline_ms(task)
    return deadline is not None and deadline <= now_ms


def time_out_all(tasks: list[Task]) -> list[str]:
    """Time out `tasks` (found overdue); the ids of those this call failed."""
    failed: list[str] = []
    for task in tasks:
        with task_log_context(task.task_id):
            try:
                if time_out(task):
                    failed.append(task.task_id)
            except Exception:  # one task's failure never holds up the others (or the dispatch after them)
                logger.exception("timing out a task failed: left for the next run")
                metrics.add_metric(name="TimeoutsFailed", unit="Count", value=1)
    return failed


def sweep_timeouts() -> SweepReport:
    """The scheduled sweeper: the deadline lanes (held tasks). A task still open and not overdue there is an
    entry written before the dispatcher checked deadlines (every task in flight had one) or a scheduled
    start: it leaves the lane with its deadline kept (`deferred`), the dispatcher has it."""
    now = clock.now_ms()
    report = SweepReport()
    for task in repositories().tasks.get_many(due_deadlines(now)):
        deadline = deadline_ms(task)
        if deadline is None:
            continue
        if deadline > now and task.create_hold is None:
            if repositories().tasks.update(task, {"due_at": deadline, "due_lane": REMOVE}):
                report.deferred.append(task.task_id)
            continue
        if deadline <= now:
            report.timed_out += time_out_all([task])
    if report.timed_out:
        logger.info("timeout sweep", extra={"timed_out": len(report.timed_out)})
    return report


def time_out(task: Task) -> bool:
    """FAILURE by timeout, data settled, refund enqueued (by the winner only). True if this call won."""
    reason = timeout_reason()
    # settling can grow the result (every progress "100%"): kept only as far as the item holds it (docs/engine.md)
    data, _ = item_size.storable_result(task, settle_data(task.data, reason), None)
    return fail_task(task, reason, changes={"data": data})

