"""The in-memory twin of store/videos.py (settlement, a user's page of one platform), for store/memory.py's
repositories (given as `Any`: store/memory.py imports this module); the same contract
(tests/repository_contract.py) runs against both."""

from __future__ import annotations

from typing import Any

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.store.models import Task
from taskcenter.store.videos import settle_entry


def settle(ledger: Any, task_id: str, attempt: int, actual: int) -> int:
    store = ledger.store
    with store.lock:
        raw = store.tasks.get(task_id)
        task = Task.from_raw_data(raw) if raw is not None else None
        if task is None or task.status != states.SUCCESS or task.billing != states.BILLING_CHARGED \
                or int(task.attempt) != attempt or actual < 0:
            return 0
        delta = int(actual) - int(task.quota)
        entry = settle_entry(task_id, attempt)
        user = store.user(task.user_id)
        key = store.credential(task.key_hash) if task.key_hash else None
        if delta == 0 or (int(task.user_id), entry) in store.ledger or user is None \
                or (task.key_hash and key is None):
            return 0
        if delta > 0 and (int(user.quota) < delta or (key is not None and not key.unlimited
                                                      and int(key.remaining_quota) < delta)):
            return 0
        ledger._entry(int(task.user_id), entry, "charge" if delta > 0 else "refund", abs(delta), task_id=task_id,
                      attempt=attempt, key_hash=task.key_hash)
        task.quota, task.updated_at = int(actual), clock.now_s()
        store.put_task(task)
        user.quota, user.used_quota = int(user.quota) - delta, int(user.used_quota) + delta
        store.put_user(user)
        if key is not None:
            key.remaining_quota, key.used_quota = int(key.remaining_quota) - delta, int(key.used_quota) + delta
            store.put_credential(key)
    return delta


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
