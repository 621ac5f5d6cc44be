"""Listing counters kept from the tasks table's DynamoDB stream (docs/listing.md, "total").

Lambda hands the stream consumer (services/jobs/task_stream.py) batches of one shard's records, at least
once: a failed batch is retried whole, bisected, or retried from the first record it reported failed. A
counter item holds one scope's counters, ALL and every status (store/counters.py), so a batch writes each
scope it moved once, whatever statuses moved in it. Every listing counter item therefore carries, per
stream shard, the sequence number of the last record it applied (attribute `hw_<shardId>`, zero-padded so
strings compare as numbers); one conditional UpdateItem adds a batch's aggregated deltas only if that mark
is below the batch's first record for the item, and moves the mark. A replayed record is skipped, a record
is counted once. Marks of shards created more than SHARD_MARK_KEEP_MS ago (DynamoDB shard ids embed their
creation time in ms; records live 24 h) are removed by the next write of the item, so the marks stay
bounded.

The deltas are the transaction's rule (listing.counter_deltas_between), written once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.store import counters, db
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Counter, Task

MARK_PREFIX = "hw_"
SEQUENCE_WIDTH = 40  # DynamoDB stream sequence numbers are 21 to 40 digits
# Stream records live 24 h and a shard is open for hours at most; after two days a shard's mark can never
# be needed again (no record of it can be delivered any more).
SHARD_MARK_KEEP_MS = 2 * 24 * 3600 * 1000
_SHARD_TIME = re.compile(r"^shardId-0*(\d{13})-")
ATTEMPTS = 4  # a conditional failure re-reads the mark and applies what is left

# counter item -> mark attributes seen stale on the last write (removed by the next one)
_stale_marks: dict[str, set[str]] = {}


@dataclass(frozen=True)
class StreamChange:
    """One stream record of the tasks table, as the consumer needs it."""

    sequence: str  # as the record carries it (the itemIdentifier of a batch item failure)
    event_name: str  # INSERT | MODIFY | REMOVE
    old: Task | None
    new: Task | None

    @property
    def order(self) -> str:
        return self.sequence.zfill(SEQUENCE_WIDTH)


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


def mark_attribute(shard: str) -> str:
    return MARK_PREFIX + shard


def shard_created_ms(shard: str) -> int | None:
    match = _SHARD_TIME.match(shard)
    return int(match.group(1)) if match else None


def _stale(attributes: Iterable[str], current: str, now_ms: int) -> set[str]:
    out = set()
    for name in attributes:
        if not name.startswith(MARK_PREFIX) or name == current:
            continue
        created = shard_created_ms(name[len(MARK_PREFIX):])
        if created is not None and now_ms - created > SHARD_MARK_KEEP_MS:
            out.add(name)
    return out


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
    point = sequence.zfill(SEQUENCE_WIDTH)
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
    client = db.aws_client("dynamodb")
    table = Counter.Meta.table_name
    mark = mark_attribute(shard)
    pending = moves
    for _ in range(ATTEMPTS):
        net = _net_by_status(pending)
        if not net:
            return False
        # never this shard's own mark: a container that saw it stale from another shard's batch would send a
        # SET and a REMOVE of one path, which DynamoDB refuses (the whole item's records then fail)
        stale = _stale_marks.pop(name, set()) - {mark}
        names, values = {"#h": mark}, {":last": {"S": pending[-1][0].order}, ":first": {"S": pending[0][0].order}}
        adds = []
        for i, (status, (value, changes)) in enumerate(sorted(net.items(), key=lambda kv: kv[0] or "")):
            names.update({f"#v{i}": counters.value_attribute(status), f"#c{i}": counters.changes_attribute(status)})
            values.update({f":v{i}": {"N": str(value)}, f":c{i}": {"N": str(changes)}})
            adds.append(f"#v{i} :v{i}, #c{i} :c{i}")
        update = "ADD " + ", ".join(adds) + " SET #h = :last"
        if stale:
            names.update({f"#r{i}": attr for i, attr in enumerate(sorted(stale))})
            update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(stale)))
        try:
            reply = client.update_item(
                TableName=table, Key={"name": {"S": name}}, UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#h) OR #h < :first",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        except ClientError as error:
            if stale:
                _stale_marks[name] = stale
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            applied = _mark_of(client, table, name, mark)
            pending = [m for m in pending if m[0].order > applied]
            if not pending:
                return False
            continue
        left = _stale(reply.get("Attributes", {}), mark, clock.now_ms())
        if left:
            _stale_marks[name] = left
        return True
    raise RuntimeError(f"counter item {name}: its shard mark kept moving under this batch")


def _mark_of(client: Any, table: str, name: str, mark: str) -> str:
    reply = client.get_item(TableName=table, Key={"name": {"S": name}}, ConsistentRead=True,
                            ProjectionExpression="#h", ExpressionAttributeNames={"#h": mark})
    return str(((reply.get("Item") or {}).get(mark) or {}).get("S") or "")
