"""Task API v1 persistence: slot leases and retry-all runs (counters table), task restarts and deletes.

Each write is one conditional request or one transaction; the services (services/task_api_v1/) decide when.
Leases and runs are items of the counters table (`name`, numeric `value`): see services/task_api_v1/admission.py
and services/task_api_v1/manual_retry.py for what they mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.domain.errors import Conflict
from taskcenter.domain.ids import v1_task_key
from taskcenter.store import tasks as task_store
from taskcenter.store.db import cancellation_codes, connection, with_conflict_retry
from taskcenter.store.models import Counter, Task
from taskcenter.store.money import Charge, Payer, charge_submission

PLATFORM = "tikmatrix"
TaskGone = DoesNotExist  # raised when a task was deleted while we worked on it (a refresh, a delete)


def _condition_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", "") == "ConditionalCheckFailedException"


# ---------------------------------------------------------------- counters-table items
def read_values(names: Iterable[str]) -> dict[str, int]:
    """Values of counters-table items (missing ones are absent): consistent BatchGetItem(s)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    return {c.name: int(c.value or 0) for c in Counter.batch_get(wanted, consistent_read=True)}


def read_value(name: str) -> int | None:
    try:
        return int(Counter.get(name, consistent_read=True).value or 0)
    except Counter.DoesNotExist:
        return None


def _free_or(seen: int):  # type: ignore[no-untyped-def]
    return Counter.name.does_not_exist() | (Counter.value == seen)


def take_leases(task: Task, leases: list[tuple[str, int, int]]) -> bool:
    """Write each (name, new value, value seen) lease, conditioned on still holding the value seen (or
    being absent), together with a check that the task is still the NOT_START attempt we hold. One
    transaction: all or none. False if anything moved (another dispatcher won)."""

    def run() -> None:
        with TransactWrite(connection=connection()) as tx:
            tx.condition_check(Task, task.task_id, condition=(Task.status == states.NOT_START)
                               & (Task.attempt == int(task.attempt)))
            for name, value, seen in leases:
                tx.save(Counter(name=name, value=value), condition=_free_or(seen))

    try:
        with_conflict_retry(run)
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
            return False
        raise
    return True


def drop_if(name: str, value: int) -> bool:
    """Delete a counters-table item only if it still holds `value`. True if this call deleted it."""
    try:
        Counter(name=name).delete(condition=Counter.value == value)
    except DeleteError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def create_item(name: str, value: int) -> None:
    try:
        Counter(name=name, value=value).save(condition=Counter.name.does_not_exist())
    except PutError as error:
        if not _condition_failed(error):
            raise


def compare_and_set(name: str, expected: int, value: int) -> bool:
    try:
        Counter(name=name).update(actions=[Counter.value.set(value)], condition=Counter.value == expected)
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise
    return True


# ---------------------------------------------------------------- task reads
def tasks_by_numeric_id(numeric_ids: Iterable[int]) -> dict[int, Task]:
    keys = [v1_task_key(n) for n in dict.fromkeys(numeric_ids)]
    if not keys:
        return {}
    return {int(t.id): t for t in Task.batch_get(keys, consistent_read=True)}


def user_scope(user_id: int) -> str:
    return f"u#{user_id}#task#p#{PLATFORM}"


def oldest_with_status(user_id: int, status: str, *, limit: int, device: str = "",
                       cursor: dict[str, Any] | None = None) -> Any:
    """The user's v1 tasks in `status`, oldest first (the listing GSIs), one page of `limit`.
    The result iterates tasks; after iteration its `last_evaluated_key` is the next page's cursor."""
    prefix = Task.ls.startswith(f"{status}#")
    if device:
        index = Task.user_device_status  # type: ignore[attr-defined]
        return index.query(f"u#{user_id}#task#d#{device}", prefix, scan_index_forward=True, limit=limit,
                           last_evaluated_key=cursor)
    index = Task.user_platform_status  # type: ignore[attr-defined]
    return index.query(user_scope(user_id), prefix, scan_index_forward=True, limit=limit, last_evaluated_key=cursor)


# ---------------------------------------------------------------- task writes
def bring_forward(task: Task, now_ms: int, within_ms: int) -> bool:
    """Make a waiting NOT_START task due now, only if its next_poll_at is within `within_ms` (a task
    deferred by admission; not one scheduled later, nor one a worker has just claimed)."""
    try:
        task.update(actions=[Task.next_poll_at.set(now_ms)],
                    condition=(Task.status == states.NOT_START) & (Task.next_poll_at <= now_ms + within_ms))
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def restart_attempt(task: Task, payer: Payer, *, price: int, group: str, max_retries: int,
                    failed_before_ms: int | None = None) -> bool:
    """A new attempt of a FAILURE task (same id), charged in the same transaction (charge_submission):
    attempt + 1, retry_count + 1, NOT_START and due now, listing counters moved FAILURE -> NOT_START.
    Conditioned on the task still being the refunded (or free) failed attempt we read, under the retry
    limit, and (retry-all) finished before `failed_before_ms`. False if it moved; nothing charged then.
    Raises InsufficientQuota / Forbidden when the payer cannot pay."""
    now = clock.now_ms()
    old_attempt, old_version = int(task.attempt), int(task.version)
    facts = task_store.listing_facts(task)
    actions = [
        Task.status.set(states.NOT_START),
        Task.attempt.set(old_attempt + 1),
        Task.retry_count.set(int(task.retry_count or 0) + 1),
        Task.version.set(old_version + 1),
        Task.quota.set(price),
        Task.billing.set(states.BILLING_CHARGED if price > 0 else states.BILLING_FREE),
        Task.key_hash.set(payer.key_hash),
        Task.group.set(group),
        Task.fail_reason.set(""),
        Task.progress.set("0%"),
        Task.start_ms.set(0),
        Task.finish_ms.set(0),
        Task.upstream_id.set(""),
        Task.submit_attempts.set(0),
        Task.poll_misses.set(0),
        Task.data.set({}),
        Task.scheduled_ms.set(0),
        Task.updated_at.set(now // 1000),
        Task.ls.set(listing.status_key(states.NOT_START, facts.submit_ms, facts.numeric_id)),
        Task.lf.remove(),  # no longer terminal: out of the terminal-status indexes (domain/listing_indexes.py)
        Task.poll_shard.set(task_store.shard_for(task.task_id)),
        Task.next_poll_at.set(now),
        Task.due_lane.remove(),  # back in the poll index: the dispatcher checks its new deadline (docs/engine.md)
        Task.due_at.set(task_store.deadline_after(now)),
    ]
    condition = ((Task.status == states.FAILURE) & (Task.version == old_version) & (Task.attempt == old_attempt)
                 & (Task.retry_count < max_retries)
                 & Task.billing.is_in(states.BILLING_REFUNDED, states.BILLING_FREE))
    if failed_before_ms is not None:
        condition = condition & (Task.finish_ms <= failed_before_ms)

    def write(tx: TransactWrite) -> None:
        # the listing counters follow from the stream (store/counter_stream.py)
        tx.update(Task(task_id=task.task_id), actions=actions, condition=condition)

    try:
        charge_submission(payer, [Charge(task.task_id, old_attempt + 1, price)], write)
    except Conflict:
        return False
    task.refresh(consistent_read=True)
    return True


def delete_finished(task: Task) -> bool:
    """Delete a finished, settled task: one DeleteItem conditioned on the version read (the stream takes it
    out of the listing counters: store/counter_stream.py). False if it moved (the caller reads it again)."""
    version = int(task.version)
    try:
        Task(task_id=task.task_id).delete(condition=(Task.version == version) & Task.status.is_in(*states.TERMINAL)
                                          & (Task.billing != states.BILLING_REFUND_PENDING))
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
