"""Storage for the video platform (docs/video.md): the move to SUCCESS that settles a finished task's price,
and one page of a user's tasks of one platform with an id cursor (the OpenAI list's `after`). The PynamoDB
side; the in-memory twin is store/memory_videos.py, both behind store/repository_types.py
(TaskRepository.succeed_and_settle, TaskRepository.user_platform_page).
"""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.observability import logger
from taskcenter.store import listing_reads
from taskcenter.store import tasks as task_store
from taskcenter.store.db import require_fits
from taskcenter.store.models import Credential, LedgerEntry, Task, User
from taskcenter.store.money import TxHook, _ledger


def settle_entry(task_id: str, attempt: int) -> str:
    return f"settle#{task_id}#{attempt}"


def settlement_parts(task: Task, actual: int, now_ms: int) -> tuple[list, TxHook]:
    """What settling a charged attempt at `actual` adds to its move to SUCCESS: the task's actions (`quota`
    rewritten, the `settled_ms` marker) and the money items: ledger settle#<task>#<attempt> (kind charge for
    more, refund for less; condition: new) and the user's and key's balances (for more, conditional on
    covering it, as a charge is: a balance never goes below zero)."""
    delta, attempt, user_id = int(actual) - int(task.quota), int(task.attempt), int(task.user_id)

    def write_money(tx: TransactWrite) -> None:
        entry = _ledger(user_id, settle_entry(task.task_id, attempt), "charge" if delta > 0 else "refund",
                        abs(delta), task_id=task.task_id, attempt=attempt, key_hash=task.key_hash)
        tx.save(entry, condition=LedgerEntry.entry.does_not_exist())
        user_condition = User.id.exists() & (User.quota >= delta) if delta > 0 else User.id.exists()
        tx.update(User(id=user_id), actions=[User.quota.add(-delta), User.used_quota.add(delta)],
                  condition=user_condition)
        if task.key_hash:
            key_condition = Credential.token_hash.exists()
            if delta > 0:
                key_condition = key_condition & ((Credential.unlimited == True)  # noqa: E712
                                                 | (Credential.remaining_quota >= delta))
            tx.update(Credential(token_hash=task.key_hash),
                      actions=[Credential.remaining_quota.add(-delta), Credential.used_quota.add(delta)],
                      condition=key_condition)
        require_fits(tx)  # added last: the whole move (task, counters, money) within DynamoDB's limits

    return [Task.quota.set(int(actual)), Task.settled_ms.set(now_ms)], write_money


def succeed_and_settle(task: Task, actions: list, actual: int) -> bool:
    """Move a charged attempt to SUCCESS and settle its charge at `actual` in the same transaction (the
    repositories' `succeed_and_settle`; docs/video.md, "Pricing and settlement"): the move's conditional
    update, the counters, the ledger entry and the balances are written together or not at all, so a crash
    after the move can no longer lose the settlement. Nothing to settle (same price, not charged): the plain
    move. True if this call made the move; a finished task never moves again (False)."""
    if task.status in states.TERMINAL:
        return False
    if task.billing != states.BILLING_CHARGED or actual < 0 or int(actual) == int(task.quota):
        return task_store.transition(task, states.SUCCESS, actions)
    status, version = task.status, int(task.version)
    task_actions, write_money = settlement_parts(task, int(actual), clock.now_ms())
    if task_store.transition(task, states.SUCCESS, actions + task_actions, extra=[write_money]):
        logger.info("video settled with its move to SUCCESS", extra={"task_id": task.task_id, "charge": int(actual)})
        return True
    stored = task_store.get(task.task_id)  # the failure path only: whose condition failed?
    if stored is None or stored.status != status or int(stored.version) != version:
        return False  # another writer moved the task first: the loser writes nothing
    # The task's condition held, so the payer's failed: a higher price they cannot cover is not charged.
    logger.warning("video settlement not covered by the payer: the submitted price stands",
                   extra={"task_id": task.task_id, "charged": int(task.quota), "produced": int(actual)})
    return task_store.transition(task, states.SUCCESS, actions)


def user_platform_page(user_id: int, kind: str, platform: str, *, after: Task | None, limit: int,
                       newest_first: bool) -> list[Task]:
    """Up to `limit` of the user's tasks of `platform`, by submission time, starting after `after` (one
    Query on the user+platform listing index, `Limit` = limit: no scan)."""
    scope = f"u#{int(user_id)}#{kind}#p#{platform}"
    start = None
    if after is not None:
        start = {"task_id": {"S": after.task_id}, "lup": {"S": scope},
                 "lt": {"S": listing.time_key(int(after.submit_ms), int(after.id))}}
    index = getattr(Task, listing.SCOPE_INDEXES["lup"][0])
    rows = index.query(scope, scan_index_forward=not newest_first, last_evaluated_key=start, limit=limit,
                       page_size=limit)
    return listing_reads.items_of(list(rows))  # the index holds keys only (docs/listing.md)
