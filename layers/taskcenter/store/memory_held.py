"""The in-memory twin of store.held_create.withdraw_submit (store/memory.py's ledger delegates here): the same
conditions, all or nothing under the store's lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter.domain import states
from taskcenter.store import held_create

if TYPE_CHECKING:
    from taskcenter.store.models import Task


def withdraw_submit(store: Any, task: Task) -> bool:
    """`store` is store.memory's MemoryStore (not imported: memory imports this module)."""
    amount, attempt, user_id = int(task.quota), int(task.attempt), int(task.user_id)
    entry = (user_id, f"charge#{task.task_id}#{attempt}")
    with store.lock:
        raw = store.tasks.get(task.task_id)
        stored = type(task).from_raw_data(raw) if raw is not None else None
        if stored is None or stored.create_hold != held_create.SUBMIT_HOLD or stored.status != states.NOT_START \
                or int(stored.attempt) != attempt:
            return False
        user = store.user(user_id)
        key = store.credential(task.key_hash) if task.key_hash and amount > 0 else None
        if user is None or (amount > 0 and entry not in store.ledger) or (task.key_hash and amount > 0 and key is None):
            return False
        del store.tasks[task.task_id]
        store.ledger.pop(entry, None)
        user.quota, user.used_quota = int(user.quota) + amount, int(user.used_quota) - amount
        user.request_count = int(user.request_count) - 1
        store.put_user(user)
        if key is not None:
            key.remaining_quota, key.used_quota = int(key.remaining_quota) + amount, int(key.used_quota) - amount
            store.put_credential(key)
        store.add_counters(held_create.submit_withdrawal_deltas(stored))
    return True
