"""The DynamoDB stream consumers (docs/listing.md "total", docs/webhooks.md "Emission", docs/usage-log.md "total").

One function reads the tasks table's stream (NEW_AND_OLD_IMAGES): listing counters and task events
(services/jobs/task_stream.py). One reads the ledger table's stream: the usage log's hour buckets
(services/usage_log/ledger_stream.py). infra/template.py maps each `stream_arn` marker below onto its table's
StreamArn and sets the event source mapping: batch size, batching window, bisection on error, partial batch
failures, bounded retries, an on-failure queue with an alarm, and a tumbling window (so Lambda's event names
the shard). The service is imported inside the handler (as functions/jobs.py: no cost for the API's routes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint
from taskcenter.observability import flush_metrics

bp = Blueprint(__name__)

TASKS_STREAM = "tasks"  # a marker: the template puts the tasks table's StreamArn here
LEDGER_STREAM = "ledger"  # the ledger table's
BATCH_SIZE = 100
BATCHING_WINDOW_SECONDS = 1

PERMISSIONS = {
    "task_stream": {"tables": {"counters": "rw", "webhooks": "r"}, "queues": {"webhook": "send"}, "timeout": 60},
    "ledger_stream": {"tables": {"counters": "rw"}, "timeout": 60},
}


def _consume(handle: Callable[[dict[str, Any]], dict[str, Any]], event: Any) -> dict[str, Any]:
    try:
        return handle(event.to_dict())
    finally:
        flush_metrics()


@bp.on_dynamodb_record(stream_arn=TASKS_STREAM, batch_size=BATCH_SIZE, starting_position="TRIM_HORIZON",
                       name="task_stream", maximum_batching_window_in_seconds=BATCHING_WINDOW_SECONDS)
def task_stream(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import task_stream as consumer

    return _consume(consumer.handle, event)


@bp.on_dynamodb_record(stream_arn=LEDGER_STREAM, batch_size=BATCH_SIZE, starting_position="TRIM_HORIZON",
                       name="ledger_stream", maximum_batching_window_in_seconds=BATCHING_WINDOW_SECONDS)
def ledger_stream(event: Any) -> dict[str, Any]:
    from taskcenter.services.usage_log import ledger_stream as consumer

    return _consume(consumer.handle, event)
