"""Atomic counters: numeric id sequences, uniqueness guards and listing totals."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from taskcenter import settings
from taskcenter.store.models import Counter


def reserve_ids(sequence: str, count: int = 1) -> list[int]:
    """Reserve `count` consecutive numeric ids from `seq#<sequence>` with one atomic ADD.

    A transaction that later fails leaves a gap; ids are unique, not dense.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    counter = Counter(name=f"seq#{sequence}")
    counter.update(actions=[Counter.value.add(count)])
    last = int(counter.value)
    return list(range(last - count + 1, last + 1))


_blocks: dict[str, list[int]] = {}
_blocks_lock = threading.Lock()


def allocate_ids(sequence: str, count: int = 1) -> list[int]:
    """Ids from a block reserved ahead by this process (ID_BLOCK_SIZE, default 50): one counter write per
    block instead of one per task. Ids stay unique; they are not dense and not ordered across processes
    (listings sort by submit time, and the numeric id only breaks ties).
    """
    block_size = max(1, settings.get().id_block_size)
    with _blocks_lock:
        pool = _blocks.setdefault(sequence, [])
        if len(pool) < count:
            pool.extend(reserve_ids(sequence, max(block_size, count - len(pool))))
        taken, pool[:] = pool[:count], pool[count:]
    return taken


def forget_blocks() -> None:
    """Drop reserved blocks (tests switch AWS accounts between cases; a new table restarts the sequence)."""
    with _blocks_lock:
        _blocks.clear()


def next_id(sequence: str) -> int:
    return reserve_ids(sequence, 1)[0]


def read_sum(names: list[str]) -> int:
    """Sum of counters (missing ones count 0): one BatchGetItem."""
    if not names:
        return 0
    total = 0
    for item in Counter.batch_get([n for n in dict.fromkeys(names)]):
        total += int(item.value or 0)
    return total


@dataclass(frozen=True)
class ScopeCount:
    """A listing scope's counters summed over their shards: how many tasks, and how many times a task
    entered or left it (every write that moves `value` adds |delta| to `changes`)."""

    total: int
    changes: int


def read_scope(names: list[str]) -> ScopeCount:
    """The listing counters `names` (the shards of one scope and status), summed: one BatchGetItem."""
    total = changes = 0
    for item in Counter.batch_get([n for n in dict.fromkeys(names)]) if names else ():
        total += int(item.value or 0)
        changes += int(item.changes or 0)
    return ScopeCount(total, changes)


def read_many(names: list[str]) -> dict[str, ScopeCount]:
    """The counters among `names` that exist, by name (PynamoDB sends BatchGetItem 100 keys at a time)."""
    return {item.name: ScopeCount(int(item.value or 0), int(item.changes or 0))
            for item in (Counter.batch_get(list(dict.fromkeys(names))) if names else ())}
