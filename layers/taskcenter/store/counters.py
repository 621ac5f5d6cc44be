"""Atomic counters: numeric id sequences, uniqueness guards and listing totals.

A listing counter has a logical name and is stored in one item per scope (and admin shard) that holds ALL and
every status (domain/listing_plan.counter_location: names and items); here are the item's attributes,
`v_<STATUS>` tasks and `c_<STATUS>` changes, or `value` and `changes` for a counter with an item of its own
(hour buckets). docs/listing.md, "total".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from taskcenter import settings
from taskcenter.domain.listing_plan import COUNTED, counter_location
from taskcenter.store.models import Counter, EnvModel, _LazyMeta


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


class _ScopeItem(EnvModel):
    """Keeps every number an item holds (`numbers`), declared or not: a user scope's item also holds its
    platform scopes' fields (`v_p#<platform>#<STATUS>`, domain/listing_plan.counter_location), one per
    platform the user has used, which no model can declare."""

    numbers: dict[str, int]

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Any:
        item = super().from_raw_data(data)
        item.numbers = {name: int(value["N"]) for name, value in data.items() if "N" in value}
        return item


# The counters table's items are schemaless; PynamoDB needs each attribute declared, hence a generated model.
ScopeCounts: Any = type("ScopeCounts", (_ScopeItem,), {
    "__module__": __name__,
    "__doc__": "A listing scope's counters (an item of the counters table): per status, tasks and changes.",
    "Meta": _LazyMeta(Counter.Meta.logical),
    "name": UnicodeAttribute(hash_key=True),
    "value": NumberAttribute(null=True),
    "changes": NumberAttribute(null=True),
    **{f"{letter}_{status}": NumberAttribute(null=True) for letter in ("v", "c") for status in COUNTED},
})


def value_attribute(field: str | None) -> str:
    """The attribute of a counter's tasks: `v_<field>` in a scope's item, `value` in an item of its own."""
    return f"v_{field}" if field else "value"


def changes_attribute(field: str | None) -> str:
    return f"c_{field}" if field else "changes"


def _read(names: list[str]) -> dict[str, ScopeCount]:
    """The listing counters among `names` that exist (one BatchGetItem of their items, 100 keys a request)."""
    where = {name: counter_location(name) for name in dict.fromkeys(names)}
    items = {item.name: item for item in ScopeCounts.batch_get(list({i for i, _ in where.values()}))} if where else {}
    out: dict[str, ScopeCount] = {}
    for name, (item_name, status) in where.items():
        item = items.get(item_name)
        value = item.numbers.get(value_attribute(status)) if item is not None else None
        changes = item.numbers.get(changes_attribute(status)) if item is not None else None
        if value is not None or changes is not None:
            out[name] = ScopeCount(int(value or 0), int(changes or 0))
    return out


def read_sum(names: list[str]) -> int:
    """Sum of counters (missing ones count 0): one BatchGetItem."""
    return sum(count.total for count in _read(names).values())


@dataclass(frozen=True)
class ScopeCount:
    """A listing scope's counters summed over their shards: how many tasks, and how many times a task
    entered or left it (every write that moves `value` adds |delta| to `changes`)."""

    total: int
    changes: int


def read_scope(names: list[str]) -> ScopeCount:
    """The listing counters `names` (the shards of one scope and status), summed: one BatchGetItem."""
    read = _read(names).values()
    return ScopeCount(sum(c.total for c in read), sum(c.changes for c in read))


def read_many(names: list[str]) -> dict[str, ScopeCount]:
    """The counters among `names` that exist, by name (PynamoDB sends BatchGetItem 100 keys at a time)."""
    return _read(names)
