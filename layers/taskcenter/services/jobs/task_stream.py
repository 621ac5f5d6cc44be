"""The tasks table's stream consumer (docs/listing.md "total", docs/webhooks.md "Emission").

Lambda reads the stream (NEW_AND_OLD_IMAGES) and hands this consumer batches of one shard's records, in
order, at least once. Per batch:

1. the listing counters move by the batch's aggregated deltas, one conditional UpdateItem per counter item,
   each record applied once thanks to the per-shard mark on every counter (store/counter_stream.py);
2. the task events of the records before any failure are queued (the stream is the outbox: a record exists
   iff the write won, so each winning transition gives one event, in order per task), only for users with a
   webhook endpoint or tasks with their own hook (services/core/task_events.py).

A failure is reported as a batch item failure at the first record not fully handled: Lambda retries from
there (records before it are done; counters skip what they applied, an event queued twice keeps its id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskcenter.observability import logger, metrics
from taskcenter.services.core import task_events
from taskcenter.store import counter_stream

# Without a tumbling window Lambda's event names no shard; the template sets one so it does (docs/listing.md).
DEFAULT_LANE = "stream"


@dataclass
class BatchOutcome:
    records: int = 0
    counters_written: int = 0
    counter_writes_skipped: int = 0
    events_sent: int = 0
    failed_at: str | None = None
    failures: list[str] = field(default_factory=list)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """One Lambda invocation: counters, then events; the reply Lambda reads (partial batch failure)."""
    outcome = process(event)
    reply: dict[str, Any] = {"batchItemFailures": [{"itemIdentifier": outcome.failed_at}] if outcome.failed_at
                             else []}
    if "shardId" in event or "window" in event:
        reply["state"] = {}  # a tumbling-window invocation must answer with a state (none is kept)
    return reply


def process(event: dict[str, Any]) -> BatchOutcome:
    records = list(event.get("Records") or [])
    shard = str(event.get("shardId") or DEFAULT_LANE)
    changes = [counter_stream.change_of(record) for record in records]
    outcome = BatchOutcome(records=len(changes))
    if not changes:
        return outcome
    counted = counter_stream.apply_changes(shard, changes)
    outcome.counters_written, outcome.counter_writes_skipped = counted.counters_written, counted.skipped
    handled = changes
    if counted.failed_at is not None:
        cut = next(i for i, c in enumerate(changes) if c.sequence == counted.failed_at)
        handled = changes[:cut]
        outcome.failures.append("counters")
    sent, event_failed_at = task_events.emit_from_stream([(c.sequence, c.old, c.new) for c in handled])
    outcome.events_sent = sent
    if event_failed_at is not None:
        outcome.failures.append("events")
    if event_failed_at is not None:  # not past a counter whose cancelling records the retry would cut
        outcome.failed_at = counter_stream.retry_point(event_failed_at, counted, changes)
    else:
        outcome.failed_at = counted.failed_at
    if outcome.failed_at is not None:
        logger.warning("task stream batch partly failed; Lambda retries from the record named",
                       extra={"failed_at": outcome.failed_at, "what": outcome.failures, "shard": shard})
    metrics.add_metric(name="StreamCounterWrites", unit="Count", value=outcome.counters_written)
    return outcome
