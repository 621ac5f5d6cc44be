"""Refund worker and reconciler (docs/engine.md; money: docs/architecture.md#money).

- The refund worker applies `store.money.refund_task` for one {"task_id", "attempt"} message. That
  transaction is exactly-once by construction (ledger entry `refund#<task>#<attempt>` must not exist and
  the task must be refund_pending for that attempt), so duplicate and reordered messages are harmless.
- The reconciler finds refunds owed but not done after a grace period (lost message, crash between
  the FAILURE transition and the enqueue) through the refund lane of the sparse `due` index
  (billing=refund_pending since before now - grace; no scan) and enqueues them again; then it audits
  the ledger of every user whose ledger moved recently and reports any balance that does not add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskcenter import clock, queues, settings
from taskcenter.domain import states
from taskcenter.observability import logger, metrics, task_log_context
from taskcenter.store import money
from taskcenter.store.repositories import current as repositories


@dataclass(frozen=True)
class RefundMessage:
    task_id: str
    attempt: int

    @classmethod
    def parse(cls, body: str | dict[str, Any]) -> RefundMessage:
        _, task_id, attempt = queues.task_message(body, "refund")
        return cls(task_id=task_id, attempt=attempt)


def refund_from_message(body: str | dict[str, Any]) -> bool:
    """The refund worker's record handler. True if this delivery moved the money (exactly one does)."""
    message = RefundMessage.parse(body)
    with task_log_context(message.task_id):
        return _refund(message)


def _refund(message: RefundMessage) -> bool:
    refunded = repositories().ledger.refund(message.task_id, message.attempt)
    if refunded:
        metrics.add_metric(name="Refunds", unit="Count", value=1)
        # its task.refunded event comes from the stream record of this transaction (docs/webhooks.md)
        logger.info("task refunded", extra={"task_id": message.task_id, "attempt": message.attempt})
    else:
        logger.info("refund not owed (already refunded or attempt moved on)",
                    extra={"task_id": message.task_id, "attempt": message.attempt})
    return refunded


@dataclass
class ReconcileReport:
    refunds_requeued: list[str] = field(default_factory=list)
    users_audited: int = 0
    mismatched_users: list[int] = field(default_factory=list)


def owed_refunds(now_ms: int) -> list[str]:
    """Tasks refund_pending since before now - grace: the `due` index's refund lane (keys only)."""
    return repositories().tasks.owed_refunds(now_ms - settings.get().refund_grace_seconds * 1000,
                                            settings.get().reconcile_limit)


def requeue_owed_refunds(now_ms: int) -> list[str]:
    """Re-enqueue every refund owed past the grace period, at most once per grace period: its refund-lane
    entry moves to now (one conditional write) before its message goes out. A refund still owed is more often
    waiting in a backed-up refund queue than lost, and a message per reconciler run would grow that backlog
    faster than the worker drains it (found by the chaos run: 10,145 requeues of 483 refunds in 30 minutes).
    The refund worker reads the attempt itself."""
    keys = owed_refunds(now_ms)
    bodies = []
    for task in repositories().tasks.get_many(keys):
        if task.billing != states.BILLING_REFUND_PENDING:
            continue
        if repositories().tasks.update(task, {"due_at": now_ms}):  # False: refunded or moved meanwhile
            bodies.append({"task_id": task.task_id, "attempt": int(task.attempt)})
            logger.warning("refund owed past the grace period; enqueued again",
                           extra={"task_id": task.task_id, "attempt": int(task.attempt),
                                  "owed_for_s": (now_ms - int(task.refund_due_ms or now_ms)) // 1000})
    if bodies:
        queues.send_many("refund", bodies)
        metrics.add_metric(name="RefundsRequeued", unit="Count", value=len(bodies))
    return [b["task_id"] for b in bodies]


def audit_recent_ledgers(now_ms: int) -> tuple[int, list[int]]:
    """Audit users whose ledger moved in the last AUDIT_DAYS days (by_day index). Returns (audited, bad)."""
    days = [money.day_of(now_ms - d * 86_400_000) for d in range(settings.get().audit_days)]
    users = sorted(repositories().ledger.active_users(days))
    bad: list[int] = []
    for user_id in users:
        result = repositories().ledger.audit(user_id)
        if not result.ok:
            bad.append(user_id)
            logger.error("ledger audit failed: balance does not add up",
                         extra={"user_id": user_id, "quota": result.quota, "expected_quota": result.expected_quota,
                                "used_quota": result.used_quota, "credits": result.credits,
                                "charges": result.charges, "refunds": result.refunds})
    metrics.add_metric(name="LedgerAuditFailures", unit="Count", value=len(bad))
    return len(users), bad


def reconcile() -> ReconcileReport:
    """The scheduled reconciler: owed refunds enqueued again, then the ledger audit."""
    now = clock.now_ms()
    report = ReconcileReport()
    report.refunds_requeued = requeue_owed_refunds(now)
    report.users_audited, report.mismatched_users = audit_recent_ledgers(now)
    logger.info("reconcile", extra={"refunds_requeued": len(report.refunds_requeued),
                                    "users_audited": report.users_audited,
                                    "mismatched_users": report.mismatched_users})
    return report
