"""The in-memory twin of store/videos.py (the settling move to SUCCESS, a user's page of one platform), for
store/memory.py's repositories (given as `Any`: store/memory.py imports this module); the same contract
(tests/repository_contract.py) runs against both."""

from __future__ import annotations

from typing import Any

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.store.models import LedgerEntry, Task
from taskcenter.store.money import day_of
from taskcenter.store.repository_types import Changes
from taskcenter.store.videos import settle_entry


def succeed_and_settle(tasks: Any, task: Task, changes: Changes | None, actual: int) -> bool:
    """store/videos.succeed_and_settle on the in-memory tables: under the store's lock, the move and the
    settlement happen together or not at all; a difference the payer cannot cover is not charged."""
    store = tasks.store
    with store.lock:  # re-entrant: the transition below runs inside this one atomic step
        stored = tasks._unchanged(task)
        if stored is None or stored.status in states.TERMINAL:
            return False
        changes = dict(changes or {})
        delta, user_id = int(actual) - int(stored.quota), int(stored.user_id)
        entry = settle_entry(stored.task_id, int(stored.attempt))
        user = store.user(user_id)
        key = store.credential(stored.key_hash) if stored.key_hash else None
        payable = user is not None and (not stored.key_hash or key is not None) and (delta <= 0 or (
            int(user.quota) >= delta and (key is None or key.unlimited or int(key.remaining_quota) >= delta)))
        if stored.billing == states.BILLING_CHARGED and actual >= 0 and delta and payable \
                and (user_id, entry) not in store.ledger:
            at = clock.now_ms()
            store.ledger[(user_id, entry)] = LedgerEntry(
                user_id=user_id, entry=entry, kind="charge" if delta > 0 else "refund", amount=abs(delta), at_ms=at,
                day=day_of(at), task_id=stored.task_id, attempt=int(stored.attempt),
                key_hash=stored.key_hash).serialize()
            assert user is not None
            user.quota, user.used_quota = int(user.quota) - delta, int(user.used_quota) + delta
            store.put_user(user)
            if key is not None:
                key.remaining_quota, key.used_quota = int(key.remaining_quota) - delta, int(key.used_quota) + delta
                store.put_credential(key)
            changes.update(quota=int(actual), settled_ms=at)
        return bool(tasks.transition(task, states.SUCCESS, changes))


def user_platform_page(store: Any, user_id: int, kind: str, platform: str, *, after: Task | None,
                       limit: int, newest_first: bool) -> list[Task]:
    scope = f"u#{int(user_id)}#{kind}#p#{platform}"
    with store.lock:
        rows = [Task.from_raw_data(raw) for raw in store.tasks.values()]
    rows = sorted((t for t in rows if t.lup == scope), key=lambda t: str(t.lt), reverse=newest_first)
    if after is not None:
        mark = listing.time_key(int(after.submit_ms), int(after.id))
        rows = [t for t in rows if (str(t.lt) < mark if newest_first else str(t.lt) > mark)]
    return rows[:limit]
