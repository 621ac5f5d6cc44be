"""Exactly-once additions from a DynamoDB stream batch to one item of the counters table.

Lambda hands a stream consumer batches of one shard's records, at least once: a failed batch is retried
whole, bisected, or retried from the first record it reported failed. So every item a consumer adds to
carries, per stream shard, the sequence number of the last record it applied (attribute `hw_<shardId>`,
zero-padded so strings compare as numbers); one conditional UpdateItem adds a batch's aggregated deltas
only if that mark is below the batch's first record for the item, and moves the mark. A replayed record is
skipped, a record is counted once. Marks of shards created more than SHARD_MARK_KEEP_MS ago (DynamoDB shard
ids embed their creation time in ms; records live 24 h) are removed by the next write of the item, so the
marks stay bounded.

Two consumers use it: the listing counters from the tasks stream (store/counter_stream.py, docs/listing.md
"total") and the usage log's hour buckets from the ledger stream (store/usage_log_stream.py,
docs/usage-log.md "total").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from taskcenter import clock
from taskcenter.store import db
from taskcenter.store.models import Counter

MARK_PREFIX = "hw_"
SEQUENCE_WIDTH = 40  # DynamoDB stream sequence numbers are 21 to 40 digits
# Stream records live 24 h and a shard is open for hours at most; after two days a shard's mark can never
# be needed again (no record of it can be delivered any more).
SHARD_MARK_KEEP_MS = 2 * 24 * 3600 * 1000
_SHARD_TIME = re.compile(r"^shardId-0*(\d{13})-")
ATTEMPTS = 4  # a conditional failure re-reads the mark and applies what is left

# counter item -> mark attributes seen stale on the last write (removed by the next one)
_stale_marks: dict[str, set[str]] = {}

R = TypeVar("R")


def order_of(sequence: str) -> str:
    """A stream sequence number as a string that sorts as the number does."""
    return sequence.zfill(SEQUENCE_WIDTH)


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


def add_once(name: str, shard: str, records: Sequence[R], order: Callable[[R], str],
             adds_of: Callable[[Sequence[R]], dict[str, int]]) -> bool:
    """ADD `adds_of(pending)` to the counters-table item `name`, for the records (in stream order, `order`
    their zero-padded sequence) this item has not applied yet; True if a write happened. `adds_of` returns
    {attribute: delta}; an empty dict means nothing to write."""
    client = db.aws_client("dynamodb")
    table = Counter.Meta.table_name
    mark = mark_attribute(shard)
    pending = list(records)
    for _ in range(ATTEMPTS):
        adds = adds_of(pending) if pending else {}
        if not adds:
            return False
        # never this shard's own mark: a container that saw it stale from another shard's batch would send a
        # SET and a REMOVE of one path, which DynamoDB refuses (the whole item's records then fail)
        stale = _stale_marks.pop(name, set()) - {mark}
        names = {"#h": mark}
        values: dict[str, Any] = {":last": {"S": order(pending[-1])}, ":first": {"S": order(pending[0])}}
        terms = []
        for i, (attribute, delta) in enumerate(sorted(adds.items())):
            names[f"#a{i}"] = attribute
            values[f":a{i}"] = {"N": str(delta)}
            terms.append(f"#a{i} :a{i}")
        update = "ADD " + ", ".join(terms) + " SET #h = :last"
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
            pending = [r for r in pending if order(r) > applied]
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
