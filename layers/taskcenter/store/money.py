"""Money primitives (docs/architecture.md#money). Each is one DynamoDB transaction, recorded in the ledger.

- charge: user quota down (condition: enabled and enough), key remaining down (condition: enabled and,
  unless unlimited, enough), tasks written (condition: new), ledger `charge#<task>#<attempt>` (condition: new),
  listing counters moved by the tasks stream (store/counter_stream.py), the usage log's hour buckets by the
  ledger stream (store/usage_log_stream.py: every entry written below is `counted_by` it).
- refund: ledger `refund#<task>#<attempt>` (condition: new), user quota up, used_quota down, key
  remaining up, task marked refunded (condition: refund pending for that attempt). A second refund of
  the same attempt fails the ledger condition and is a no-op, by construction.
- credit: ledger `credit#...` and user quota up (condition: user exists).
- settle (video): ledger `settle#<task>#<attempt>`, balances and task.quota in the transaction of the task's
  move to SUCCESS (store/videos.py, `succeed_and_settle`): with the move or not at all.
- audit: quota == credits - charges + refunds and used_quota == charges - refunds, from the ledger.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from taskcenter import clock
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, Conflict, Forbidden, InsufficientQuota, NotFound
from taskcenter.store.db import (
    cancellation_codes,
    conditional_transaction,
    connection,
    failed_tables,
    require_fits,
    transaction_items,
    with_conflict_retry,
)
from taskcenter.store.models import Credential, LedgerEntry, Task, User
from taskcenter.store.usage_log_counts import STREAM_COUNTED
from taskcenter.store.usage_log_counts import remove_counts as remove_log_counts

TxHook = Callable[[TransactWrite], None]


def day_of(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _ledger(user_id: int, entry: str, kind: str, amount: int, **fields: object) -> LedgerEntry:
    at = clock.now_ms()
    return LedgerEntry(user_id=user_id, entry=entry, kind=kind, amount=amount, at_ms=at, day=day_of(at),
                       counted_by=STREAM_COUNTED, **fields)


@dataclass(frozen=True)
class Payer:
    """Who pays: the user and the credential (token or key) the request came with."""

    user_id: int
    key_hash: str


@dataclass(frozen=True)
class Charge:
    task_id: str
    attempt: int
    amount: int


def _fill_charge(tx: TransactWrite, payer: Payer, charges: list[Charge], write_tasks: TxHook) -> None:
    """The charge transaction's items (charge_submission sends them; charge_items counts them)."""
    total = sum(c.amount for c in charges)
    if total < 0:
        raise BadInput("negative charge")
    user_condition = User.status == 1
    if total > 0:
        user_condition = user_condition & (User.quota >= total)
    tx.update(
        User(id=payer.user_id),
        actions=[
            User.quota.add(-total),
            User.used_quota.add(total),
            User.request_count.add(len(charges)),
        ],
        condition=user_condition,
    )
    if payer.key_hash:
        key_condition = Credential.status == 1
        if total > 0:
            key_condition = key_condition & (
                (Credential.unlimited == True) | (Credential.remaining_quota >= total)  # noqa: E712
            )
        tx.update(
            Credential(token_hash=payer.key_hash),
            actions=[Credential.remaining_quota.add(-total), Credential.used_quota.add(total)],
            condition=key_condition,
        )
    entries = [_ledger(payer.user_id, f"charge#{c.task_id}#{c.attempt}", "charge", c.amount,
                       task_id=c.task_id, attempt=c.attempt, key_hash=payer.key_hash) for c in charges if c.amount > 0]
    for entry in entries:
        tx.save(entry, condition=LedgerEntry.entry.does_not_exist())
    write_tasks(tx)


def charge_items(payer: Payer, charges: list[Charge], write_tasks: TxHook) -> list[dict]:
    """The items charge_submission would send for these charges (built, not sent): what chunking counts."""
    tx = TransactWrite(connection=connection())
    _fill_charge(tx, payer, charges, write_tasks)
    return transaction_items(tx)


def charge_submission(payer: Payer, charges: list[Charge], write_tasks: TxHook) -> None:
    """Charge for one or more task attempts and write them, all in one transaction.

    `write_tasks` adds the task puts/updates (each with its own condition) and counter moves.
    Item order matters for error mapping: user, key, then the rest.
    """
    sent: list[TransactWrite] = []

    def run() -> None:
        with TransactWrite(connection=connection()) as tx:
            sent[:] = [tx]
            _fill_charge(tx, payer, charges, write_tasks)
            require_fits(tx)  # never send what DynamoDB would refuse as a ValidationException

    try:
        with_conflict_retry(run)
    except TransactWriteError as error:
        tables = failed_tables(sent[0], error) if sent else []
        if User.Meta.table_name in tables:
            # The user condition is "enabled and enough quota": say which part failed (one read, on the error path).
            if _user_disabled(payer.user_id):
                raise Forbidden("user is disabled (or no longer exists)") from error
            raise InsufficientQuota("user quota is not enough", code="insufficient_user_quota") from error
        if Credential.Meta.table_name in tables:
            raise InsufficientQuota("token quota is not enough or token disabled",
                                    code="insufficient_token_quota") from error
        if tables:
            raise Conflict("task already exists or changed concurrently") from error
        raise


def _user_disabled(user_id: int) -> bool:
    try:
        return int(User.get(user_id, consistent_read=True).status) != 1
    except DoesNotExist:
        return True


def mark_failed_actions(reason: str, *, now_ms: int) -> list:
    """Update actions every FAILURE transition carries (the engine and the sweeper share them)."""
    return [
        Task.status.set(states.FAILURE),
        Task.fail_reason.set(reason[:1000]),
        Task.progress.set("100%"),
        Task.finish_ms.set(now_ms),
        Task.updated_at.set(now_ms // 1000),
        Task.next_poll_at.remove(),
        Task.poll_shard.remove(),
        Task.due_at.remove(),
        Task.due_lane.remove(),
    ]


def refund_task(task_id: str, attempt: int | None = None) -> bool:
    """Refund the task's current (or given) attempt. True if this call refunded; False if nothing was owed.

    Safe to call any number of times, concurrently: exactly one call per attempt moves money.
    """
    try:
        task = Task.get(task_id, consistent_read=True)
    except DoesNotExist:
        return False
    if attempt is None:
        attempt = task.attempt
    if task.attempt != attempt or task.billing != states.BILLING_REFUND_PENDING:
        return False
    amount = int(task.quota)
    now = clock.now_ms()

    def write_refund(tx: TransactWrite) -> None:
        entry = _ledger(task.user_id, f"refund#{task_id}#{attempt}", "refund", amount,  # note: the usage log's reason
                        task_id=task_id, attempt=attempt, key_hash=task.key_hash, note=(task.fail_reason or "")[:300])
        tx.save(entry, condition=LedgerEntry.entry.does_not_exist())
        tx.update(
            Task(task_id=task_id),
            actions=[Task.billing.set(states.BILLING_REFUNDED), Task.refund_due_ms.remove(),
                     Task.due_lane.remove(), Task.due_at.remove(),  # out of the refund lane
                     Task.updated_at.set(now // 1000)],
            condition=(Task.attempt == attempt) & (Task.billing == states.BILLING_REFUND_PENDING),
        )
        if amount > 0:
            tx.update(User(id=task.user_id), actions=[User.quota.add(amount), User.used_quota.add(-amount)],
                      condition=User.id.exists())
            if task.key_hash:
                tx.update(
                    Credential(token_hash=task.key_hash),
                    actions=[Credential.remaining_quota.add(amount), Credential.used_quota.add(-amount)],
                    condition=Credential.token_hash.exists(),
                )

    # False: already refunded (or the attempt moved on): the other caller won
    return conditional_transaction(write_refund)


def withdraw_charges(payer: Payer, charges: list[Charge], write_removal: TxHook) -> bool:
    """Undo charges of tasks that never started, in one transaction: each charge's ledger entry deleted (a
    refused create leaves no entry, not a charge/refund pair: docs/decisions.md, "Money"), its usage-log
    count taken back, user and key credited back, and `write_removal` deletes the tasks (each conditioned on
    still being the untouched attempt). The mirror of charge_submission, item for item, so it fits wherever
    the charge did. False if a condition failed (a task moved, or a charge is gone): nothing written."""
    total = sum(c.amount for c in charges)
    keys = [(payer.user_id, f"charge#{c.task_id}#{c.attempt}") for c in charges if c.amount > 0]
    # the entries must still exist; an entry its transaction counted is uncounted here (one read, refusal path)
    found = list(LedgerEntry.batch_get(keys, consistent_read=True)) if keys else []
    if len(found) != len(keys):
        return False

    def build(tx: TransactWrite) -> None:
        for entry in found:
            tx.delete(LedgerEntry(user_id=payer.user_id, entry=str(entry.entry)), condition=LedgerEntry.entry.exists())
        remove_log_counts(tx, found)  # entries counted by their transaction only (the stream uncounts the rest)
        if total > 0:
            tx.update(User(id=payer.user_id), actions=[User.quota.add(total), User.used_quota.add(-total)],
                      condition=User.id.exists())
            if payer.key_hash:
                tx.update(Credential(token_hash=payer.key_hash),
                          actions=[Credential.remaining_quota.add(total), Credential.used_quota.add(-total)],
                          condition=Credential.token_hash.exists())
        write_removal(tx)
        require_fits(tx)

    return conditional_transaction(build)


def credit_user(user_id: int, amount: int, note: str = "") -> int:
    """Admin top-up. Returns the user's new quota."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BadInput("top-up amount must be a positive integer", field="amount")
    entry = f"credit#{clock.now_ms():013d}#{secrets.token_hex(4)}"

    def run() -> None:
        with TransactWrite(connection=connection()) as tx:
            row = _ledger(user_id, entry, "credit", amount, note=note[:200])
            tx.save(row, condition=LedgerEntry.entry.does_not_exist())
            tx.update(User(id=user_id), actions=[User.quota.add(amount)], condition=User.id.exists())

    try:
        # the user's item is shared with that user's own charges and refunds: a conflict is re-sent
        with_conflict_retry(run)
    except TransactWriteError as error:
        if "ConditionalCheckFailed" in cancellation_codes(error):
            raise NotFound(f"user {user_id} not found") from error
        raise
    return int(User.get(user_id, consistent_read=True).quota)


@dataclass(frozen=True)
class AuditResult:
    user_id: int
    quota: int
    used_quota: int
    credits: int
    charges: int
    refunds: int

    @property
    def expected_quota(self) -> int:
        return self.credits - self.charges + self.refunds

    @property
    def ok(self) -> bool:
        return self.quota == self.expected_quota and self.used_quota == self.charges - self.refunds


AUDIT_READ_ATTEMPTS = 5


def _balance(user_id: int) -> tuple[int, int]:
    try:
        user = User.get(user_id, consistent_read=True)
    except DoesNotExist as error:
        raise NotFound(f"user {user_id} not found") from error
    return int(user.quota), int(user.used_quota)


def audit_user(user_id: int) -> AuditResult:
    """The user's balance against the ledger sums, from a consistent pair of reads.

    The user item and the ledger query are two reads: a charge or refund committing between them (the user is
    busy while the reconciler audits) would show a mismatch that is not there. Every money transaction moves
    the user's quota with its ledger entry, so a balance unchanged across the ledger query means the ledger
    read matches it; otherwise read again (bounded). A real mismatch shows on every read.
    """
    result: AuditResult | None = None
    for _ in range(AUDIT_READ_ATTEMPTS):
        quota, used = _balance(user_id)
        sums = {"credit": 0, "charge": 0, "refund": 0}
        for entry in LedgerEntry.query(user_id, consistent_read=True):
            sums[entry.kind] = sums.get(entry.kind, 0) + int(entry.amount)
        result = AuditResult(user_id, quota, used, sums["credit"], sums["charge"], sums["refund"])
        if result.ok or _balance(user_id) == (quota, used):
            return result
    assert result is not None
    return result


def users_with_ledger_activity(days: Iterable[str]) -> set[int]:
    """Users whose ledger moved on these days (by_day index; no scan)."""
    out: set[int] = set()
    for day in days:
        for entry in LedgerEntry.by_day.query(day):
            out.add(int(entry.user_id))
    return out


def require_enabled(user: User) -> None:
    if user.status != 1:
        raise Forbidden("user is disabled")
