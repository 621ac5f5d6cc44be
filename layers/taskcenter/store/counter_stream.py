"""Listing counters kept from the tasks table's DynamoDB stream (docs/listing.md, "total").

Lambda hands the stream consumer (services/jobs/task_stream.py) batches of one shard's records, at least
once. A counter item holds one scope's counters, ALL and every status (store/counters.py), so a batch writes
each scope it moved once, whatever statuses moved in it, with one conditional UpdateItem that applies each
record once (the per-shard marks of store/stream_marks.py).

The deltas are the transaction's rule (listing.counter_deltas_between), written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from taskcenter.domain import listing_plan as listing
from taskcenter.store import counters
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task
from taskcenter.store.stream_marks import add_once, mark_attribute, order_of

__all__ = ["ApplyResult", "StreamChange", "apply_changes", "change_of", "mark_attribute", "retry_point"]


@dataclass(frozen=True)
class StreamChange:
    """One stream record of the tasks table, as the consumer needs it."""

    sequence: str  # as the record carries it (the itemIdentifier of a batch item failure)
    event_name: str  # INSERT | MODIFY | REMOVE
    old: Task | None
    new: Task | None

    @property
    def order(self) -> str:
        return order_of(self.sequence)


def change_of(record: dict[str, Any]) -> StreamChange:
    """A Lambda DynamoDB stream record (NEW_AND_OLD_IMAGES) -> StreamChange."""
    stream = record.get("dynamodb") or {}
    old, new = stream.get("OldImage"), stream.get("NewImage")
    return StreamChange(str(stream["SequenceNumber"]), str(record.get("eventName") or ""),
                        Task.from_raw_data(old) if old else None, Task.from_raw_data(new) if new else None)


def counter_deltas(change: StreamChange) -> dict[str, int]:
    """The counter moves of one record: the rule the create and status transactions used (one rule)."""
    old = task_store.listing_facts(change.old) if change.old is not None else None
    new = task_store.listing_facts(change.new) if change.new is not None else None
    if old is not None and new is not None:
        return listing.counter_deltas_between(old, new)
    if new is not None:
        return listing.counter_deltas_for_create(new)
    if old is not None:
        return {name: -delta for name, delta in listing.counter_deltas_for_create(old).items()}
    return {}


Moves = list[tuple["StreamChange", int]]  # (record, delta) of one counter, in stream order
ItemMoves = list[tuple["StreamChange", "str | None", int]]  # (record, status attribute, delta) of one item


@dataclass
class ApplyResult:
    counters_written: int = 0
    skipped: int = 0  # counters left alone: a replay (the mark refused it) or no task's membership changed
    failed_at: str | None = None  # the first record (its sequence) not applied to every counter
    left_alone: list[Moves] = field(default_factory=list)  # the record groups of counters not written


def _task_of(change: StreamChange) -> str:
    task = change.new if change.new is not None else change.old
    return str(task.task_id) if task is not None else ""


def net_moves(moves: Moves) -> tuple[int, int]:
    """(value delta, change count) of a counter over consecutive records, applied at once: the change count
    is each task's net move (a task that entered and left within the batch, e.g. NOT_START at a submit
    that also moved it on, changes nothing a reader can see)."""
    per_task: dict[str, int] = {}
    for change, delta in moves:
        per_task[_task_of(change)] = per_task.get(_task_of(change), 0) + delta
    return sum(per_task.values()), sum(abs(v) for v in per_task.values())


def apply_changes(shard: str, changes: list[StreamChange]) -> ApplyResult:
    """Apply a batch of one shard's records to the listing counters: one conditional UpdateItem per counter
    item (a scope: every status it holds) whose membership moved (its records aggregated), none for the
    others."""
    moves: dict[str, ItemMoves] = {}
    for change in sorted(changes, key=lambda c: c.order):
        for name, delta in counter_deltas(change).items():
            item, status = listing.counter_location(name)
            moves.setdefault(item, []).append((change, status, delta))
    result = ApplyResult()
    failed: list[str] = []
    for item in sorted(moves):
        try:
            written = _apply_item(item, shard, moves[item])
        except ClientError:
            failed.append(moves[item][0][0].order)  # this item has applied none of its records of the batch
            continue
        if written:
            result.counters_written += 1
        else:
            result.skipped += 1
            result.left_alone.append([(change, delta) for change, _, delta in moves[item]])
    if failed:
        first = min(failed)
        result.failed_at = retry_point(next(c.sequence for c in changes if c.order == first), result, changes)
    return result


def retry_point(sequence: str, result: ApplyResult, changes: list[StreamChange]) -> str:
    """Where Lambda must retry from when the batch failed at record `sequence` (counters or events). A
    counter left alone because its records cancel out must not see a retry start inside them (it would
    apply their tail without their head): the point moves back to such a counter's first record, until no
    counter straddles it. Records before the point are done for every counter."""
    point = order_of(sequence)
    moved = True
    while moved:
        moved = False
        for group in result.left_alone:
            orders = [c.order for c, _ in group]
            if orders[0] < point <= orders[-1]:
                point, moved = orders[0], True
    return next(c.sequence for c in changes if c.order == point)


def _net_by_status(pending: ItemMoves) -> dict[str | None, tuple[int, int]]:
    """Each status attribute's (value delta, change count) over the pending records; only those that moved."""
    statuses = dict.fromkeys(status for _, status, _ in pending)
    net = {status: net_moves([(c, d) for c, s, d in pending if s == status]) for status in statuses}
    return {status: moved for status, moved in net.items() if moved[1]}


def _apply_item(name: str, shard: str, moves: ItemMoves) -> bool:
    """Add the moves not yet applied to one counter item; True if a write happened."""

    def adds(pending: list[tuple[StreamChange, str | None, int]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for status, (value, changes) in _net_by_status(pending).items():
            out[counters.value_attribute(status)] = value
            out[counters.changes_attribute(status)] = changes
        return out

    return add_once(name, shard, moves, lambda move: move[0].order, adds)
