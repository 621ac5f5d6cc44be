"""DynamoDB stream event sources for the local event runner (infra/local/runner.py), read as Lambda does.

moto keeps a table's stream (one shard, every record, GetRecords by shard iterator); this module reads it
the way a Lambda event source mapping does (docs/local-stack.md, "Streams"):

- one poller per `DynamoDB` event of the template: it gets up to BatchSize records after its checkpoint
  and invokes the handler with Lambda's event shape (Records with eventSourceARN and the stream images in
  DynamoDB JSON; `shardId`, `window` and `state` when the mapping has a TumblingWindowInSeconds);
- success moves the checkpoint past the batch; a partial batch failure (`batchItemFailures`, one
  itemIdentifier = a SequenceNumber) moves it to just before that record and retries from there (an
  invalid identifier fails the whole batch, as Lambda does); a function error bisects the batch when
  BisectBatchOnFunctionError is set, else retries it whole;
- after MaximumRetryAttempts retries the batch is given up: its description (shard, sequence range) goes
  to the DestinationConfig OnFailure queue, as Lambda's, and the checkpoint moves past it.

tests/support.py uses the same reader in-process (moto in-process) so integration tests see the counters and
events the consumer writes, with the real record shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_RETRIES = 10_000  # Lambda's -1 (until the record expires), bounded here

Invoke = Callable[[dict[str, Any]], tuple[bool, Any]]  # event -> (handler returned, its result)


@dataclass
class StreamSource:
    function_id: str
    handler: str
    table_id: str
    batch_size: int = 100
    bisect: bool = False
    report_failures: bool = False
    max_retries: int = DEFAULT_RETRIES
    window_seconds: int = 0
    on_failure_queue: str | None = None  # logical id of the OnFailure queue
    busy: threading.Lock = field(default_factory=threading.Lock)


def discover(template: dict[str, Any]) -> list[tuple[dict[str, Any], StreamSource]]:
    """(function resource, StreamSource) for every `DynamoDB` event of the template's functions."""
    out = []
    for function_id, resource in sorted((template.get("Resources") or {}).items()):
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            ep = event.get("Properties") or {}
            retries = int(ep.get("MaximumRetryAttempts", -1))
            destination = ((ep.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            out.append((resource, StreamSource(
                function_id, str(props.get("Handler", "")), ep["Stream"]["Fn::GetAtt"][0],
                int(ep.get("BatchSize") or 100), bool(ep.get("BisectBatchOnFunctionError")),
                "ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or []),
                DEFAULT_RETRIES if retries < 0 else retries, int(ep.get("TumblingWindowInSeconds") or 0),
                destination["Fn::GetAtt"][0] if isinstance(destination, dict) else None)))
    return out


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record (boto3) in the shape Lambda hands a function (JSON: the time as epoch seconds)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    out.update({"dynamodb": stream, "eventSourceARN": stream_arn})
    return out


def lambda_event(records: list[dict[str, Any]], source: StreamSource, shard_id: str, stream_arn: str
                 ) -> dict[str, Any]:
    event: dict[str, Any] = {"Records": records}
    if source.window_seconds:  # Lambda's tumbling-window invocation fields
        now = datetime.now(UTC)
        start = int(now.timestamp()) // source.window_seconds * source.window_seconds
        event.update({"window": {"start": datetime.fromtimestamp(start, UTC).isoformat(),
                                 "end": datetime.fromtimestamp(start + source.window_seconds, UTC).isoformat()},
                      "state": {}, "shardId": shard_id, "eventSourceARN": stream_arn,
                      "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False})
    return event


def failed_from(result: Any, batch: list[dict[str, Any]], report_failures: bool) -> int | None:
    """Index of the first failed record as Lambda reads the reply (None: the batch succeeded)."""
    if not report_failures or not isinstance(result, dict) or not result.get("batchItemFailures"):
        return None
    sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
    indexes = []
    for failure in result["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in sequences:
            return 0  # an invalid identifier: the whole batch failed
        indexes.append(sequences.index(identifier))
    return min(indexes)  # Lambda retries from the lowest sequence number reported


class ShardReader:
    """One source's checkpointed reader of a table's stream (moto's stream has one shard)."""

    def __init__(self, source: StreamSource, streams: Any, stream_arn: str, invoke: Invoke,
                 give_up: Callable[[dict[str, Any]], None] | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.source, self.streams, self.stream_arn = source, streams, stream_arn
        self.invoke, self.give_up, self.log = invoke, give_up, log or (lambda _line: None)
        self.shard_id = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.checkpoint: str | None = None
        self.stats = {"batches": 0, "records": 0, "retries": 0, "bisections": 0, "given_up": 0}

    def fetch(self, limit: int) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": self.shard_id}
        if self.checkpoint is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self.checkpoint)
        iterator = self.streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return list(self.streams.get_records(ShardIterator=iterator, Limit=limit).get("Records") or [])

    def poll_once(self) -> int:
        """Read one batch after the checkpoint and see it through (retries, bisection). Returns its size."""
        raw = self.fetch(self.source.batch_size)
        if raw:
            self.process([lambda_record(r, self.stream_arn) for r in raw])
        return len(raw)

    def drain(self, max_batches: int = 1000) -> int:
        total = 0
        for _ in range(max_batches):
            got = self.poll_once()
            total += got
            if not got:
                break
        return total

    def process(self, records: list[dict[str, Any]]) -> None:
        queue, retries = [records], 0
        while queue:
            batch = queue.pop(0)
            returned, result = self.invoke(lambda_event(batch, self.source, self.shard_id, self.stream_arn))
            self.stats["batches"] += 1
            failed = None if returned else 0
            if returned:
                failed = failed_from(result, batch, self.source.report_failures)
            if failed is None:
                self._advance(batch[-1])
                self.stats["records"] += len(batch)
                retries = 0
                continue
            if failed > 0:
                self._advance(batch[failed - 1])
            rest = batch[failed:]
            retries += 1
            self.stats["retries"] += 1
            if retries > self.source.max_retries:
                self._give_up(rest)
                retries = 0
                continue
            if not returned and self.source.bisect and len(rest) > 1:
                half = (len(rest) + 1) // 2
                self.stats["bisections"] += 1
                queue[:0] = [rest[:half], rest[half:]]
            else:
                queue.insert(0, rest)

    def _advance(self, record: dict[str, Any]) -> None:
        self.checkpoint = record["dynamodb"]["SequenceNumber"]

    def _give_up(self, batch: list[dict[str, Any]]) -> None:
        """As Lambda: the batch's description to the OnFailure destination, then past it."""
        info = {"requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.source.function_id},
                "DDBStreamBatchInfo": {"shardId": self.shard_id, "streamArn": self.stream_arn,
                                       "batchSize": len(batch),
                                       "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                                       "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"]}}
        self.stats["given_up"] += 1
        self.log(f"{self.source.function_id} gave up a batch of {len(batch)} records after "
                 f"{self.source.max_retries} retries")
        if self.give_up is not None:
            self.give_up(info)
        self._advance(batch[-1])
