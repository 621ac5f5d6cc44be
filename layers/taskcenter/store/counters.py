"""Atomic counters: numeric id sequences, uniqueness guards and listing totals."""

from __future__ import annotations

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
