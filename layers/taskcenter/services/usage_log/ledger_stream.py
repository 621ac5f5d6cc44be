"""The ledger table's stream consumer (docs/usage-log.md, "total"): the usage log's hour buckets.

Lambda hands it batches of one shard's records, in order, at least once; the records are counted into the
day items once each (store/usage_log_stream.py). A failure is reported as a batch item failure at the
first record not applied everywhere: Lambda retries from there, and the items that applied it skip it.
"""

from __future__ import annotations

from typing import Any

from taskcenter.observability import logger, metrics
from taskcenter.store import usage_log_stream

# Without a tumbling window Lambda's event names no shard; the template sets one so it does (docs/listing.md).
DEFAULT_LANE = "stream"


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """One Lambda invocation; the reply Lambda reads (partial batch failure, tumbling-window state)."""
    shard = str(event.get("shardId") or DEFAULT_LANE)
    result = usage_log_stream.apply_records(shard, list(event.get("Records") or []))
    if result.failed_at is not None:
        logger.warning("ledger stream batch partly failed; Lambda retries from the record named",
                       extra={"failed_at": result.failed_at, "shard": shard})
    # entries counted against items written: how well a batch shares its day items (docs/cost-model.md)
    metrics.add_metric(name="LedgerStreamWrites", unit="Count", value=result.items_written)
    metrics.add_metric(name="LedgerStreamEntriesCounted", unit="Count", value=result.entries_counted)
    reply: dict[str, Any] = {"batchItemFailures": [{"itemIdentifier": result.failed_at}] if result.failed_at
                             else []}
    if "shardId" in event or "window" in event:
        reply["state"] = {}  # a tumbling-window invocation must answer with a state (none is kept)
    return reply
