"""Task lifecycle steps shared by every surface and job: moving a task, failing it, settling what it owes.

Every status move goes through `move`: the storage write (`store.tasks.transition`, conditional on the
status and version read) says whether this call won, and only the winner of a move to SUCCESS or FAILURE
runs the platform's terminal hook (core/platform_registry.py; storage never calls upward).

A move to FAILURE marks a charged attempt refund_pending in the same conditional write; the refund itself
is a separate exactly-once transaction, sent through the refund queue. If the enqueue is lost (crash, SQS
error), the reconciler finds the task by its refund_pending state and enqueues again (docs/engine.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskcenter import queues
from taskcenter.domain import states
from taskcenter.observability import logger
from taskcenter.services.core import platform_registry
from taskcenter.store.repositories import Changes
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task


def move(task: Task, new_status: str, changes: Changes | None = None, *, fail_reason: str = "",
         channel_id: int | None = None) -> bool:
    """The tasks repository's conditional transition, then (if this call won) the winner's event, the
    platform's terminal hook and the result keeping (docs/architecture.md). A move to SUCCESS that settles a
    price (video, docs/video.md) carries the settlement in the same write: no crash after it can lose it."""
    charge = settled_charge(task, changes) if new_status == states.SUCCESS and channel_id is None else None
    if charge is None:
        won = repositories().tasks.transition(task, new_status, changes, fail_reason=fail_reason,
                                              channel_id=channel_id)
    else:
        won = repositories().tasks.succeed_and_settle(task, changes, charge)
    if not won:
        return False
    # the winner's event comes from the tasks table's stream (services/jobs/task_stream.py, docs/webhooks.md)
    if new_status in states.TERMINAL:
        run_terminal_hook(task)
    if new_status == states.SUCCESS:
        queue_result_keeping(task)
    return True


def settled_charge(task: Task, changes: Changes | None) -> int | None:
    """The platform's price for what the move to SUCCESS writes (None: nothing to settle). A pricing error
    never blocks the move: it is logged and the submitted price stands."""
    data = (changes or {}).get("data", task.data)
    try:
        return platform_registry.settled_charge(task, data)
    except Exception:
        logger.exception("settlement not priced; the submitted price stands", extra={"task_id": task.task_id})
        return None


def queue_result_keeping(task: Task) -> None:
    """The winner of a move to SUCCESS asks the result keeper to copy the task's result files into the
    results bucket (docs/results.md). A lost message is counted (metric ResultsKeepNotQueued, alarmed) and
    logged with the task id; the result routes keep answering from the upstream's URL meanwhile."""
    try:
        if not platform_registry.result_urls(task):
            return
        queues.send("keep", {"task_id": task.task_id, "attempt": int(task.attempt)})
    except Exception:
        from taskcenter.observability import metrics

        metrics.add_metric(name="ResultsKeepNotQueued", unit="Count", value=1)
        logger.exception("result keeping not queued", extra={"task_id": getattr(task, "task_id", "")})


def run_terminal_hook(task: Task) -> None:
    """A hook never breaks the move: errors are logged (v1 slots also heal on their own, see
    services/task_api_v1/admission.py)."""
    try:
        row = platform_registry.platform(task.platform)
        if row is not None and row.on_terminal is not None:
            row.on_terminal(task)
    except Exception:
        logger.exception("terminal hook failed", extra={"task_id": getattr(task, "task_id", "")})


def fail_task(task: Task, reason: str, *, changes: Changes | None = None, refund_now: bool = False) -> bool:
    """Move a task to FAILURE with `reason` (and `changes` in the same write).
    True if this call made the move.

    Only the winner settles money: with refund_now the refund happens in this request (used when the
    client is waiting for the answer, e.g. every channel failed at submission); otherwise a refund
    message is queued.
    """
    if task.status in states.TERMINAL:
        return False
    if not move(task, states.FAILURE, changes, fail_reason=reason):
        return False
    logger.info("task failed", extra={"task_id": task.task_id, "reason": reason, "billing": task.billing})
    after_move(task, refund_now=refund_now)
    return True


def after_move(task: Task, *, refund_now: bool = False) -> None:
    """What only the winner of a move runs: the refund of a failed, charged attempt.

    (TasksSucceeded / TasksFailed are counted by store.tasks.transition, for every path.)"""
    if task.status == states.FAILURE and task.billing == states.BILLING_REFUND_PENDING:
        settle_refund(task, refund_now=refund_now)


def settle_refund(task: Task, *, refund_now: bool = False) -> None:
    if refund_now:
        repositories().ledger.refund(task.task_id, int(task.attempt))  # its event: from the stream
        repositories().tasks.refresh(task)
        return
    try:
        queues.send("refund", {"task_id": task.task_id, "attempt": int(task.attempt)})
    except Exception:  # the reconciler re-enqueues refunds owed past the grace period
        logger.exception("refund enqueue failed; reconciler will retry", extra={"task_id": task.task_id})
