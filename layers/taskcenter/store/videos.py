"""Storage for the video platform (docs/video.md): the settlement of a finished task's price, and one page
of a user's tasks of one platform with an id cursor (the OpenAI list's `after`). The PynamoDB side; the
in-memory twin is in store/memory.py, both behind store/repository_types.py (LedgerRepository.settle,
TaskRepository.user_platform_page).
"""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.store import listing_reads
from taskcenter.store import tasks as task_store
from taskcenter.store.db import conditional_transaction
from taskcenter.store.models import Credential, LedgerEntry, Task, User
from taskcenter.store.money import _ledger


def settle_entry(task_id: str, attempt: int) -> str:
    return f"settle#{task_id}#{attempt}"


def settle_task(task_id: str, attempt: int, actual: int) -> int:
    """Bring a SUCCESS task's charge to `actual`, once: a second ledger entry (kind charge for more, refund for
    less, entry settle#<task>#<attempt>, condition: new), balances moved, task.quota rewritten, all in one
    transaction. Returns the quota moved (positive: charged more); 0 when nothing moved: no difference,
    settled already, not a charged SUCCESS, or the user (or key) cannot pay the difference (a balance never
    goes below zero: the submitted price stands)."""
    task = task_store.get(task_id)
    if task is None or task.status != states.SUCCESS or task.billing != states.BILLING_CHARGED \
            or int(task.attempt) != attempt or actual < 0:
        return 0
    charged = int(task.quota)
    delta = int(actual) - charged
    if delta == 0:
        return 0

    def build(tx: TransactWrite) -> None:
        kind = "charge" if delta > 0 else "refund"
        tx.save(_ledger(int(task.user_id), settle_entry(task_id, attempt), kind, abs(delta), task_id=task_id,
                        attempt=attempt, key_hash=task.key_hash),
                condition=LedgerEntry.entry.does_not_exist())
        tx.update(Task(task_id=task_id), actions=[Task.quota.set(int(actual)), Task.updated_at.set(clock.now_s())],
                  condition=(Task.attempt == attempt) & (Task.billing == states.BILLING_CHARGED)
                  & (Task.quota == charged) & (Task.status == states.SUCCESS))
        user_condition = User.id.exists() & (User.quota >= delta) if delta > 0 else User.id.exists()
        tx.update(User(id=int(task.user_id)), actions=[User.quota.add(-delta), User.used_quota.add(delta)],
                  condition=user_condition)
        if task.key_hash:
            key_condition = Credential.token_hash.exists()
            if delta > 0:
                key_condition = key_condition & ((Credential.unlimited == True)  # noqa: E712
                                                 | (Credential.remaining_quota >= delta))
            tx.update(Credential(token_hash=task.key_hash),
                      actions=[Credential.remaining_quota.add(-delta), Credential.used_quota.add(delta)],
                      condition=key_condition)

    return delta if conditional_transaction(build) else 0


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
