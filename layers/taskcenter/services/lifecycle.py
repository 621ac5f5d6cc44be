"""Task lifecycle steps shared by every surface and job: failing a task and settling what it owes.

A move to FAILURE marks a charged attempt refund_pending in the same conditional write
(store.tasks.transition); the refund itself is a separate exactly-once transaction, sent through
the refund queue. If the enqueue is lost (crash, SQS error), the reconciler finds the task by its
refund_pending state and enqueues again.
"""

from __future__ import annotations

from taskcenter import queues
from taskcenter.domain import states
from taskcenter.observability import logger
from taskcenter.store.models import Task
from taskcenter.store.repositories import current as repositories


def fail_task(task: Task, reason: str, *, refund_now: bool = False) -> bool:
    """Move a task to FAILURE with `reason`. Returns True if this call made the move.

    Only the winner settles money: with refund_now the refund happens in this request (used when the
    client is waiting for the answer, e.g. every channel failed at submission); otherwise a refund
    message is queued.
    """
    if task.status in states.TERMINAL:
        return False
    if not repositories().tasks.transition(task, states.FAILURE, fail_reason=reason):
        return False
    logger.info("task failed", extra={"task_id": task.task_id, "reason": reason, "billing": task.billing})
    if task.billing == states.BILLING_REFUND_PENDING:
        settle_refund(task, refund_now=refund_now)
    return True


def settle_refund(task: Task, *, refund_now: bool = False) -> None:
    if refund_now:
        repositories().ledger.refund(task.task_id, int(task.attempt))
        repositories().tasks.refresh(task)
        return
    try:
        queues.send("refund", {"task_id": task.task_id, "attempt": int(task.attempt)})
    except Exception:  # the reconciler re-enqueues refunds owed past the grace period
        logger.exception("refund enqueue failed; reconciler will retry", extra={"task_id": task.task_id})
