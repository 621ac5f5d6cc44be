"""The tables' streams and their consumers, for infra/template.py (docs/listing.md "total",
docs/webhooks.md "Emission", docs/usage-log.md "total").

- a table whose model's Meta has a stream_view_type (tasks, ledger: NEW_AND_OLD_IMAGES) gets a
  StreamSpecification;
- each consumer (functions/streams.py, `@on_dynamodb_record(stream_arn="tasks" | "ledger")`) gets a `DynamoDB`
  event on its table's StreamArn: a batch of up to BATCH records gathered for at most the batching window, a bisected
  batch on a function error, partial batch failures (Lambda retries from the first failed record), bounded
  retries, then the batch's description goes to the on-failure queue, which is alarmed (counters and events
  of those records are missing until they are replayed: docs/listing.md). A tumbling window makes Lambda's
  event carry `shardId`, which the counters' exactly-once marks are keyed by (store/counter_stream.py).
"""

from __future__ import annotations

from typing import Any

FAILURES_QUEUE = "TaskStreamDeadLetterQueue"
MAXIMUM_RETRY_ATTEMPTS = 10  # with bisection: a poison record is isolated in about log2(batch) of them
TUMBLING_WINDOW_SECONDS = 60
FAILURES_RETENTION_S = 14 * 24 * 3600  # the maximum; stream records themselves live 24 h


def table_logical(stream_arn: str) -> str:
    from infra.template import table_logical_id

    return table_logical_id(stream_arn)


def event_properties(source: Any) -> dict[str, Any]:
    """The SAM `DynamoDB` event of a Chalice DynamoDBEventConfig whose stream_arn names a table."""
    return {
        "Stream": {"Fn::GetAtt": [table_logical(source.stream_arn), "StreamArn"]},
        "StartingPosition": source.starting_position,
        "BatchSize": int(source.batch_size),
        "MaximumBatchingWindowInSeconds": int(source.maximum_batching_window_in_seconds),
        "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
        "TumblingWindowInSeconds": TUMBLING_WINDOW_SECONDS,
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [FAILURES_QUEUE, "Arn"]}}},
    }


def resources(alarm: Any) -> dict[str, dict[str, Any]]:
    """The on-failure queue and its alarm (`alarm` is infra/template.py's alarm builder)."""
    return {
        FAILURES_QUEUE: {"Type": "AWS::SQS::Queue", "Properties": {
            "MessageRetentionPeriod": FAILURES_RETENTION_S, "SqsManagedSseEnabled": True}},
        f"{FAILURES_QUEUE}Alarm": alarm(
            "stream records were given up after their retries (tasks stream: listing counters and task events of "
            "those records are missing; ledger stream: usage-log hour buckets; the queue's messages name the "
            "stream, shard and sequence range; docs/listing.md, docs/usage-log.md)",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            ("QueueName", {"Fn::GetAtt": [FAILURES_QUEUE, "QueueName"]}), "Maximum", 60),
    }
