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
            if got < self.source.batch_size:  # moto's GetRecords returns every record up to the limit
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


# ---------------------------------------------------------------- the event runner's stream consumers
def table_name_of(table_id: str) -> str:
    """The physical name of a template table (the runner's environment has the functions' table variables)."""
    import os

    from taskcenter.config import TABLE_ENV

    from infra.template import table_logical_id

    logical = next(name for name in TABLE_ENV if table_logical_id(name) == table_id)
    return os.environ[TABLE_ENV[logical]]


class StreamConsumers:
    """One background reader per `DynamoDB` event of the template, invoking through the event runner (its
    handler cache, timeouts, log and chaos: a crash mid-batch handles half the records and fails the batch,
    a duplicate delivers the batch twice)."""

    POLL_SECONDS = 0.25  # Lambda polls a shard 4 times a second

    def __init__(self, runner: Any, template: dict[str, Any], queues: dict[str, Any], clients: Any) -> None:
        from infra.local.runner import Target

        self.runner, self.queues = runner, queues
        self.readers: dict[str, ShardReader] = {}
        self.threads: list[threading.Thread] = []
        dynamodb, self.streams, self.sqs = clients
        for resource, source in discover(template):
            props = resource.get("Properties") or {}
            target = Target(source.function_id, source.handler, int(props.get("Timeout") or 3),
                            int(props.get("MemorySize") or 128))
            arn = dynamodb.describe_table(TableName=table_name_of(source.table_id))["Table"]["LatestStreamArn"]
            self.readers[source.function_id] = ShardReader(
                source, self.streams, arn, self._invoker(target), self._give_up(source), runner._say)

    def _invoker(self, target: Any) -> Invoke:
        runner = self.runner

        def invoke(event: dict[str, Any]) -> tuple[bool, Any]:
            records = event["Records"]
            if runner._crashes():
                outcome = runner.invoke(target, {**event, "Records": records[:(len(records) + 1) // 2]})
                with runner._lock:
                    runner.chaos["crashed_batches"] += 1
                    runner.chaos["crashed_records_seen"] += (len(records) + 1) // 2
                runner._say(f"chaos: {target.function_id} crashed mid-batch of {len(records)} stream records")
                return False, None
            outcome = runner.invoke(target, event)
            if runner.duplicate and outcome.ok:
                again = runner.invoke(target, event)
                with runner._lock:
                    runner.chaos["duplicated_batches"] += 1
                    runner.chaos["duplicated_records"] += len(records)
                outcome = again if not again.ok else outcome
            failed = (outcome.result or {}).get("batchItemFailures") if isinstance(outcome.result, dict) else None
            runner._say(f"{target.function_id} stream batch={len(records)} "
                        f"{'ok' if outcome.ok and not failed else ('partial' if outcome.ok else 'error')} "
                        f"{outcome.seconds * 1000:.0f}ms" + (f"\n{outcome.error}" if outcome.error else ""))
            return outcome.ok, outcome.result

        return invoke

    def _give_up(self, source: StreamSource) -> Callable[[dict[str, Any]], None]:
        def send(info: dict[str, Any]) -> None:
            queue = self.queues.get(source.on_failure_queue or "")
            if queue is not None:
                url = queue["url"] if isinstance(queue, dict) else queue.url
                import json

                self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(info))

        return send

    def drain(self, function_id: str) -> dict[str, Any] | None:
        reader = self.readers.get(function_id)
        if reader is None:
            return None
        with reader.source.busy:
            records = reader.drain()
        return {"records": records, **reader.stats}

    def _loop(self, reader: ShardReader) -> None:
        while not self.runner.stop_event.is_set():
            try:
                with reader.source.busy:
                    got = reader.poll_once()
            except Exception:
                import traceback

                self.runner._say(f"{reader.source.function_id} stream poller error (retrying):\n"
                                 f"{traceback.format_exc()}")
                got = 0
            if not got:
                self.runner.stop_event.wait(self.POLL_SECONDS)

    def start(self) -> None:
        for function_id, reader in self.readers.items():
            thread = threading.Thread(target=self._loop, args=(reader,), daemon=True, name=f"stream-{function_id}")
            thread.start()
            self.threads.append(thread)

    def describe(self) -> list[str]:
        return [f"{r.source.function_id}: DynamoDB stream of {r.source.table_id} batch={r.source.batch_size} "
                f"bisect={r.source.bisect} report_failures={r.source.report_failures} "
                f"retries={r.source.max_retries} -> {r.source.on_failure_queue}" for r in self.readers.values()]
