"""The usage log's hour buckets kept from the ledger table's DynamoDB stream (docs/usage-log.md, "total").

A ledger entry never changes once written: an INSERT counts it, a REMOVE (a withdrawn charge:
store/held_create.py, money.withdraw_charges) uncounts it, by the entry's own time, kind and amount
(usage_log_counts.deltas, the one rule). Only entries `counted_by` the stream are counted here; an entry
written before the stream counted entries was counted by its own transaction. A batch writes each day item
it touched once, with the per-shard marks of store/stream_marks.py, so a replayed record is counted once.

An item is written even when its records cancel out in the batch (a charge withdrawn within the same
second): then every item touched either applied all of its records of the batch or none, and a retry from
the first record of a failed item is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from taskcenter.store import usage_log_counts
from taskcenter.store.models import LedgerEntry
from taskcenter.store.stream_marks import add_once, order_of


@dataclass(frozen=True)
class EntryMove:
    """One record's moves of one day item: {attribute: delta}."""

    sequence: str
    adds: dict[str, int]

    @property
    def order(self) -> str:
        return order_of(self.sequence)


@dataclass
class LogApplyResult:
    items_written: int = 0
    entries_counted: int = 0
    failed_at: str | None = None  # the sequence Lambda must retry from


def entry_of(record: dict[str, Any]) -> tuple[LedgerEntry, int] | None:
    """(entry, +1 or -1) of a Lambda DynamoDB stream record of the ledger, or None: not counted here."""
    stream = record.get("dynamodb") or {}
    event = str(record.get("eventName") or "")
    image, sign = (stream.get("NewImage"), 1) if event == "INSERT" else \
        (stream.get("OldImage"), -1) if event == "REMOVE" else (None, 0)
    if not image:
        return None  # a MODIFY: entries are written once (nothing in the service updates one)
    entry = LedgerEntry.from_raw_data(image)
    if not usage_log_counts.counted_by_stream(entry) or entry.kind not in usage_log_counts.KINDS:
        return None
    return entry, sign


def _sum(moves: Sequence[EntryMove]) -> dict[str, int]:
    out: dict[str, int] = {}
    for move in moves:
        for attribute, delta in move.adds.items():
            out[attribute] = out.get(attribute, 0) + delta
    return out


def apply_records(shard: str, records: list[dict[str, Any]]) -> LogApplyResult:
    """Count one shard's batch of ledger records in the day items: one conditional UpdateItem per item."""
    result = LogApplyResult()
    moves: dict[str, list[EntryMove]] = {}
    for record in sorted(records, key=lambda r: order_of(str(r["dynamodb"]["SequenceNumber"]))):
        found = entry_of(record)
        if found is None:
            continue
        entry, sign = found
        result.entries_counted += 1
        sequence = str(record["dynamodb"]["SequenceNumber"])
        for item, adds in usage_log_counts.deltas([entry]).items():
            moves.setdefault(item, []).append(EntryMove(sequence, {a: sign * n for a, n in adds.items()}))
    failed: list[EntryMove] = []
    for item in sorted(moves):
        try:
            if add_once(item, shard, moves[item], lambda move: move.order, _sum):
                result.items_written += 1
        except ClientError:
            failed.append(moves[item][0])  # this item applied none of its records of the batch
    if failed:
        result.failed_at = min(failed, key=lambda move: move.order).sequence
    return result
