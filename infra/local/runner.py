"""The local event runner: fires the schedules and drains the queues as template.yaml declares them.

What Lambda and EventBridge do on AWS, for every function of the template (docs/local-stack.md):
- `Schedule` events: `rate(N minute|minutes|hour|hours|day|days)` fires every N units times
  LOCAL_SCHEDULE_SCALE (default 1; 0.05 makes rate(1 minute) every 3 s), first one interval after start;
  `cron(...)` fires on wall-clock UTC minutes that match its minute/hour/day-of-month/month/day-of-week
  fields (not scaled). The handler gets an EventBridge "Scheduled Event".
- `SQS` events: one poller per function, receiving up to BatchSize messages (several receives when
  BatchSize > 10), with the queue's own VisibilityTimeout. The handler gets real SQS records (messageId,
  receiptHandle, body, attributes.ApproximateReceiveCount, messageAttributes, eventSourceARN, awsRegion).
  With `ReportBatchItemFailures` only the messages not listed in `batchItemFailures` are deleted (a
  malformed or unknown itemIdentifier fails the whole batch, as on Lambda); without it a normal return
  deletes the batch. An exception, or running past the function's Timeout, fails the whole batch. Failed
  messages stay in flight and reappear after the visibility timeout (LOCAL_VISIBILITY_SCALE, default 1,
  shortens it through ChangeMessageVisibility). Redrive to the dead-letter queue after maxReceiveCount
  receives is done by the AWS emulation itself on receive (moto implements the RedrivePolicy as SQS does).

Handlers are imported in this process (Handler `functions.jobs.poll_worker` -> `functions.jobs`); one
invocation that raises, or a handler module that fails to import, is logged and never stops the runner.
Every invocation is one line on stdout (the stack sends it to `.local/logs/event-runner.log`).

With `--port`, a small HTTP control API lets tests and developers act now instead of waiting:
    GET  /health                  {"ok": true, "invocations": n}
    GET  /sources                 what the runner drives (one line per schedule / queue consumer)
    GET  /alarms                  the template's dead-letter-queue alarms, evaluated now (ALARM | OK)
    POST /fire/<FunctionId>       run that function's schedule once, now; {"ok", "error", "result"}
    POST /drain/<FunctionId>      poll that function's queue until it returns nothing; {"batches", "deleted", "failed"}

Chaos knobs (docs/chaos.md; off by default, and then nothing above changes): LOCAL_CHAOS_DUPLICATE=1 delivers
every SQS batch twice (the handler is invoked a second time with the same records, before any delete; a
message is deleted only if neither invocation reported it failed); LOCAL_CHAOS_CRASH_RATE=0.1 makes that
share of queue invocations crash mid-batch (the handler sees only the first half of the records, then the
invocation counts as failed: nothing is deleted, every message reappears after the visibility timeout).
LOCAL_CHAOS_SEED seeds the draws. Each event is a `chaos:` line in the log; /health reports the counts.

    python -m infra.local.runner --config .local/event-runner.json --port 8010   # the event_runner component
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
DEFAULT_LAMBDA_TIMEOUT = 3  # Lambda's default when neither the function nor Globals set one
DEFAULT_VISIBILITY = 30  # SQS default VisibilityTimeout
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


# ---------------------------------------------------------------- schedules
def rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def _field_matches(spec: str, value: int, low: int) -> bool:
    if spec in {"*", "?"}:
        return True
    for part in spec.split(","):
        base, _, step = part.partition("/")
        if base in {"*", "?"}:
            start, end = low, 10_000
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = end = int(base)
            if step:
                end = 10_000
        if start <= value <= end and (value - start) % int(step or 1) == 0:
            return True
    return False


def cron_matches(expression: str, moment: datetime) -> bool:
    """EventBridge cron(min hour day-of-month month day-of-week year), numeric fields only (no L/W/#/names)."""
    fields = expression.strip()[len("cron("):-1].split()
    if len(fields) != 6:
        raise ValueError(f"cron needs 6 fields: {expression}")
    minute, hour, dom, month, dow, year = fields
    eventbridge_dow = (moment.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday ... 7 = Saturday
    return (_field_matches(minute, moment.minute, 0) and _field_matches(hour, moment.hour, 0)
            and _field_matches(dom, moment.day, 1) and _field_matches(month, moment.month, 1)
            and _field_matches(dow, eventbridge_dow, 1) and _field_matches(year, moment.year, 1970))


# ---------------------------------------------------------------- what the template declares
@dataclass
class Target:
    """A function of the template: its handler and limits."""

    function_id: str
    handler: str
    timeout: int
    memory: int


@dataclass
class QueueSource:
    target: Target
    queue_id: str
    url: str
    arn: str
    batch_size: int
    report_failures: bool
    visibility_timeout: int
    max_receive_count: int | None = None
    dead_letter: str | None = None
    busy: threading.Lock = field(default_factory=threading.Lock)  # one batch at a time (poller or /drain)


@dataclass
class ScheduleSource:
    target: Target
    name: str
    expression: str
    interval: float | None  # seconds (scaled) for rate(); None for cron()
    next_at: float = 0.0
    last_minute: str = ""
    running: threading.Lock = field(default_factory=threading.Lock)


def _queue_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return (target.split(".", 1) if isinstance(target, str) else target)[0]
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def discover(template: dict[str, Any], queues: dict[str, Any], *, schedule_scale: float = 1.0,
             now: float | None = None) -> tuple[list[QueueSource], list[ScheduleSource]]:
    """The SQS and Schedule event sources of every function. `queues`: logical id -> QueueInfo (or its dict)."""
    resources = template.get("Resources") or {}
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    now = time.monotonic() if now is None else now
    queue_sources: list[QueueSource] = []
    schedules: list[ScheduleSource] = []
    for function_id, resource in sorted(resources.items()):
        if not isinstance(resource, dict) or resource.get("Type") not in FUNCTION_TYPES:
            continue
        props = resource.get("Properties") or {}
        target = Target(function_id, str(props.get("Handler", "")),
                        int(props.get("Timeout") or function_globals.get("Timeout") or DEFAULT_LAMBDA_TIMEOUT),
                        int(props.get("MemorySize") or function_globals.get("MemorySize") or 128))
        for name, event in sorted((props.get("Events") or {}).items()):
            kind, event_props = event.get("Type"), event.get("Properties") or {}
            if kind == "SQS":
                queue_id = _queue_id(event_props.get("Queue"))
                info = queues.get(queue_id or "")
                if info is None:
                    raise ValueError(f"{function_id}.{name}: queue {event_props.get('Queue')} is not in the stack")
                info = info if isinstance(info, dict) else vars(info)
                queue_props = (resources.get(queue_id) or {}).get("Properties") or {}
                queue_sources.append(QueueSource(
                    target, str(queue_id), info["url"], info["arn"], int(event_props.get("BatchSize") or 10),
                    "ReportBatchItemFailures" in (event_props.get("FunctionResponseTypes") or []),
                    int(queue_props.get("VisibilityTimeout") or DEFAULT_VISIBILITY),
                    info.get("max_receive_count"), info.get("dead_letter")))
            elif kind in {"Schedule", "ScheduleV2"}:
                expression = str(event_props.get("Schedule") or event_props.get("ScheduleExpression") or "")
                if event_props.get("Enabled") is False or event_props.get("State") == "DISABLED":
                    continue
                seconds = rate_seconds(expression)
                if seconds is None and not expression.startswith("cron("):
                    raise ValueError(f"{function_id}.{name}: unsupported schedule {expression!r}")
                interval = None if seconds is None else max(0.05, seconds * schedule_scale)
                schedules.append(ScheduleSource(target, name, expression, interval,
                                                next_at=now + interval if interval else 0.0))
    return queue_sources, schedules


# ---------------------------------------------------------------- Lambda shapes
class LocalContext:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    def __init__(self, target: Target, region: str) -> None:
        self.function_name = target.function_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{target.function_id}"
        self.memory_limit_in_mb = target.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{target.function_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + target.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API MessageAttributes -> the lower-camel shape Lambda puts in records."""
    out = {}
    for name, value in (attributes or {}).items():
        out[name] = {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                     "stringListValues": value.get("StringListValues", []),
                     "binaryListValues": value.get("BinaryListValues", []), "dataType": value.get("DataType")}
    return out


def sqs_event(messages: list[dict[str, Any]], source: QueueSource, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        records.append({
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": {key: str(attributes[key]) for key in (
                "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                "MessageGroupId", "MessageDeduplicationId", "SequenceNumber") if key in attributes},
            "messageAttributes": _message_attributes(message.get("MessageAttributes") or {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": source.arn,
            "awsRegion": region,
        })
    return {"Records": records}


def scheduled_event(schedule: ScheduleSource, region: str, moment: datetime | None = None) -> dict[str, Any]:
    moment = moment or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{schedule.target.function_id}{schedule.name}"],
        "detail": {},
    }


def failed_message_ids(result: Any, batch_ids: list[str], report_failures: bool) -> list[str]:
    """Which messages failed, as Lambda reads a handler's return value."""
    if not report_failures or not isinstance(result, dict) or result.get("batchItemFailures") is None:
        return []
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return list(batch_ids)
    ids = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return list(batch_ids)  # Lambda: an invalid identifier fails the whole batch
        ids.append(identifier)
    return ids


# ---------------------------------------------------------------- the runner
@dataclass
class Outcome:
    ok: bool
    result: Any = None
    error: str = ""
    seconds: float = 0.0


class EventRunner:
    def __init__(self, queue_sources: list[QueueSource], schedules: list[ScheduleSource], sqs: Any, *,
                 region: str = "us-east-1", visibility_scale: float = 1.0, wait_seconds: int = 1,
                 log: Callable[[str], None] | None = None, duplicate: bool = False, crash_rate: float = 0.0,
                 chaos_seed: int = 1) -> None:
        self.queue_sources = queue_sources
        self.schedules = schedules
        self.sqs = sqs
        self.region = region
        self.visibility_scale = visibility_scale
        self.wait_seconds = wait_seconds
        self.log = log or (lambda line: print(line, flush=True))
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()
        self.invocations = 0
        # chaos (docs/chaos.md): off unless asked for
        self.duplicate = duplicate
        self.crash_rate = crash_rate
        self._chaos_rng = random.Random(chaos_seed)
        self.chaos = {"duplicated_batches": 0, "duplicated_records": 0, "crashed_batches": 0,
                      "crashed_records_seen": 0}
        self.alarm_state: Callable[[], list[dict[str, Any]]] = list  # main() sets the template's
        self.streams: Any = None  # main() sets the DynamoDB stream consumers (infra/local/streams.py)

    # ------------------------------------------------------------ handlers
    def handler(self, handler: str) -> Callable[..., Any]:
        with self._lock:
            if handler not in self._handlers:
                module_name, _, attribute = handler.rpartition(".")
                function = getattr(importlib.import_module(module_name), attribute)
                if not callable(function):
                    raise TypeError(f"{handler} is not callable")
                self._handlers[handler] = function
            return self._handlers[handler]

    def preload(self) -> list[str]:
        """Import every handler now, so a broken module shows in the log at start. Returns the failures."""
        failures = []
        for target in {s.target.handler: s.target for s in [*self.queue_sources, *self.schedules]}.values():
            try:
                self.handler(target.handler)
            except Exception:
                failures.append(target.handler)
                self._say(f"{target.function_id} handler {target.handler} failed to import (its invocations will "
                          f"fail until fixed):\n{traceback.format_exc()}")
        return failures

    def invoke(self, target: Target, event: dict[str, Any]) -> Outcome:
        began = time.monotonic()
        try:
            function = self.handler(target.handler)
            result = function(event, LocalContext(target, self.region))
        except Exception:
            return Outcome(False, error=traceback.format_exc(), seconds=time.monotonic() - began)
        finally:
            with self._lock:
                self.invocations += 1
        seconds = time.monotonic() - began
        if seconds > target.timeout:
            return Outcome(False, result, f"timed out: {seconds:.1f}s > Timeout {target.timeout}s", seconds)
        return Outcome(True, result, seconds=seconds)

    def _say(self, text: str) -> None:
        self.log(f"[runner] {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')[:-4]}Z {text}")

    # ------------------------------------------------------------ queues
    def receive_batch(self, source: QueueSource, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < source.batch_size:
            reply = self.sqs.receive_message(
                QueueUrl=source.url, MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0, AttributeNames=["All"],
                MessageAttributeNames=["All"])
            received = reply.get("Messages") or []
            if not received:
                break
            messages.extend(received)
        return messages

    def poll_once(self, source: QueueSource, wait_seconds: int | None = None) -> dict[str, Any]:
        """Receive one batch, invoke the handler, delete what succeeded. Returns a summary (tests read it)."""
        messages = self.receive_batch(source, self.wait_seconds if wait_seconds is None else wait_seconds)
        if not messages:
            return {"received": 0, "deleted": [], "failed": []}
        event = sqs_event(messages, source, self.region)
        ids = [m["MessageId"] for m in messages]
        if self._crashes():
            outcome = self._crash_mid_batch(source, event)
            failed = list(ids)
        else:
            outcome = self.invoke(source.target, event)
            failed = ids if not outcome.ok else failed_message_ids(outcome.result, ids, source.report_failures)
            if self.duplicate:
                failed = self._deliver_again(source, event, ids, failed)
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        succeeded = [i for i in ids if i not in failed]
        for start in range(0, len(succeeded), 10):
            chunk = succeeded[start:start + 10]
            self.sqs.delete_message_batch(QueueUrl=source.url, Entries=[
                {"Id": str(n), "ReceiptHandle": handles[i]} for n, i in enumerate(chunk)])
        if failed and self.visibility_scale != 1.0:
            timeout = max(0, int(source.visibility_timeout * self.visibility_scale))
            for message_id in failed:
                self.sqs.change_message_visibility(QueueUrl=source.url, ReceiptHandle=handles[message_id],
                                                   VisibilityTimeout=timeout)
        counts = sorted({int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)) for m in messages})
        status = "ok" if not failed else ("error" if not outcome.ok else f"partial ({len(failed)} failed)")
        self._say(f"{source.target.function_id} sqs {source.queue_id} batch={len(messages)} {status} "
                  f"deleted={len(succeeded)} failed={len(failed)} receives={counts} {outcome.seconds * 1000:.0f}ms"
                  + (f" failed_ids={failed}" if failed and outcome.ok else "")
                  + (f"\n{outcome.error}" if outcome.error else ""))
        return {"received": len(messages), "deleted": succeeded, "failed": failed, "outcome": outcome}

    # ------------------------------------------------------------ chaos
    def _crashes(self) -> bool:
        if self.crash_rate <= 0:
            return False
        with self._lock:
            return self._chaos_rng.random() < self.crash_rate

    def _crash_mid_batch(self, source: QueueSource, event: dict[str, Any]) -> Outcome:
        """As a Lambda that dies half-way: the first half of the records was handled, nothing is deleted."""
        records = event["Records"]
        half = records[:(len(records) + 1) // 2]
        outcome = self.invoke(source.target, {"Records": half})
        with self._lock:
            self.chaos["crashed_batches"] += 1
            self.chaos["crashed_records_seen"] += len(half)
        self._say(f"chaos: {source.target.function_id} crashed mid-batch after {len(half)} of {len(records)} "
                  f"records (handler {'returned' if outcome.ok else 'raised'}); nothing deleted")
        return Outcome(False, outcome.result, "chaos: crashed mid-batch", outcome.seconds)

    def _deliver_again(self, source: QueueSource, event: dict[str, Any], ids: list[str],
                       failed: list[str]) -> list[str]:
        """The same records a second time (same messageId, receiptHandle, body), as an at-least-once duplicate."""
        again = self.invoke(source.target, event)
        failed_again = ids if not again.ok else failed_message_ids(again.result, ids, source.report_failures)
        with self._lock:
            self.chaos["duplicated_batches"] += 1
            self.chaos["duplicated_records"] += len(ids)
        self._say(f"chaos: {source.target.function_id} batch of {len(ids)} delivered twice; second delivery "
                  + ("ok" if not failed_again else f"failed {len(failed_again)}: {failed_again}")
                  + (f"\n{again.error}" if again.error else ""))
        return [i for i in ids if i in failed or i in failed_again]

    def _queue_loop(self, source: QueueSource) -> None:
        while not self.stop_event.is_set():
            try:
                with source.busy:
                    self.poll_once(source)
            except Exception:
                self._say(f"{source.target.function_id} poller error (retrying):\n{traceback.format_exc()}")
                self.stop_event.wait(1.0)
            self.stop_event.wait(0.01)  # let a waiting /drain take the lock (locks are not fair)

    # ------------------------------------------------------------ schedules
    def fire(self, schedule: ScheduleSource, moment: datetime | None = None) -> Outcome:
        outcome = self.invoke(schedule.target, scheduled_event(schedule, self.region, moment))
        self._say(f"{schedule.target.function_id} schedule {schedule.expression} "
                  f"{'ok' if outcome.ok else 'error'} {outcome.seconds * 1000:.0f}ms"
                  + (f"\n{outcome.error}" if outcome.error else ""))
        return outcome

    def due(self, now: float, wall: datetime) -> list[ScheduleSource]:
        ready = []
        for schedule in self.schedules:
            if schedule.interval is not None:
                if now >= schedule.next_at:
                    ready.append(schedule)
                    schedule.next_at = max(schedule.next_at + schedule.interval, now)
            else:
                minute = wall.strftime("%Y%m%d%H%M")
                if minute != schedule.last_minute and cron_matches(schedule.expression, wall):
                    schedule.last_minute = minute
                    ready.append(schedule)
        return ready

    def _fire_in_background(self, schedule: ScheduleSource) -> None:
        if not schedule.running.acquire(blocking=False):
            self._say(f"{schedule.target.function_id} schedule {schedule.expression} skipped: previous run still "
                      "going")
            return

        def run() -> None:
            try:
                self.fire(schedule)
            finally:
                schedule.running.release()

        threading.Thread(target=run, name=f"fire-{schedule.target.function_id}", daemon=True).start()

    def _schedule_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                for schedule in self.due(time.monotonic(), datetime.now(UTC)):
                    self._fire_in_background(schedule)
            except Exception:
                self._say(f"scheduler error:\n{traceback.format_exc()}")
            self.stop_event.wait(0.05)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for source in self.queue_sources:
            thread = threading.Thread(target=self._queue_loop, args=(source,), daemon=True,
                                      name=f"sqs-{source.target.function_id}")
            thread.start()
            self.threads.append(thread)
        if self.schedules:
            thread = threading.Thread(target=self._schedule_loop, daemon=True, name="schedules")
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def describe(self) -> list[str]:
        lines = [f"{s.target.function_id}: SQS {s.queue_id} batch={s.batch_size} visibility={s.visibility_timeout}s "
                 f"report_failures={s.report_failures} maxReceiveCount={s.max_receive_count} -> {s.dead_letter}"
                 for s in self.queue_sources]
        lines += [f"{s.target.function_id}: {s.expression}"
                  + (f" every {s.interval:g}s" if s.interval is not None else " (wall clock, UTC)")
                  for s in self.schedules]
        return lines


# ---------------------------------------------------------------- control API
def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def control_server(runner: EventRunner, host: str, port: int) -> ThreadingHTTPServer:
    class Control(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/health":
                self._reply(200, {"ok": True, "invocations": runner.invocations, "chaos": dict(runner.chaos)})
            elif self.path == "/sources":
                self._reply(200, {"sources": runner.describe()})
            elif self.path == "/alarms":  # the template's queue-depth alarms, evaluated now (infra/local/alarms.py)
                self._reply(200, {"alarms": runner.alarm_state()})
            else:
                self._reply(404, {"error": f"no such path {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            action, _, function_id = self.path.strip("/").partition("/")
            if action == "fire":
                schedule = next((s for s in runner.schedules if s.target.function_id == function_id), None)
                if schedule is None:
                    self._reply(404, {"error": f"{function_id} has no schedule"})
                    return
                with schedule.running:  # not at the same time as its background firing
                    outcome = runner.fire(schedule)
                self._reply(200, {"ok": outcome.ok, "error": outcome.error, "result": _json_safe(outcome.result)})
            elif action == "drain":
                source = next((s for s in runner.queue_sources if s.target.function_id == function_id), None)
                stream = runner.streams.drain(function_id) if runner.streams is not None and source is None else None
                if stream is not None:  # a DynamoDB stream consumer (infra/local/streams.py): read to its end
                    self._reply(200, stream)
                    return
                if source is None:
                    self._reply(404, {"error": f"{function_id} consumes no queue"})
                    return
                totals = {"batches": 0, "deleted": 0, "failed": 0}
                with source.busy:  # a batch the background poller holds is finished first
                    for _ in range(100):  # bounded: a handler that keeps re-enqueueing cannot hold this forever
                        summary = runner.poll_once(source, wait_seconds=0)
                        if not summary["received"]:
                            break
                        totals["batches"] += 1
                        totals["deleted"] += len(summary["deleted"])
                        totals["failed"] += len(summary["failed"])
                self._reply(200, totals)
            else:
                self._reply(404, {"error": f"no such path {self.path}"})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the invocation lines say enough
            return

    server = ThreadingHTTPServer((host, port), Control)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server


# ---------------------------------------------------------------- entry point
def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def sqs_client(region: str) -> Any:
    import boto3

    endpoint = os.environ.get("SQS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.session.Session(region_name=region).client("sqs", endpoint_url=endpoint)


def stream_clients(region: str) -> tuple[Any, Any, Any]:
    """DynamoDB, DynamoDB Streams and SQS clients on the local stack's endpoints (the stream consumers')."""
    import boto3

    session = boto3.session.Session(region_name=region)
    endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    return (session.client("dynamodb", endpoint_url=endpoint), session.client("dynamodbstreams", endpoint_url=endpoint),
            sqs_client(region))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True,
                        help="JSON written by the event_runner component: {template, queues, region}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="serve the control API on this port")
    args = parser.parse_args(argv)
    for path in (str(ROOT / "layers"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    config = json.loads(args.config.read_text())
    region = config.get("region") or os.environ.get("AWS_REGION") or "us-east-1"
    queue_sources, schedules = discover(config["template"], config["queues"],
                                        schedule_scale=env_float("LOCAL_SCHEDULE_SCALE", 1.0))
    runner = EventRunner(queue_sources, schedules, sqs_client(region), region=region,
                         visibility_scale=env_float("LOCAL_VISIBILITY_SCALE", 1.0),
                         duplicate=os.environ.get("LOCAL_CHAOS_DUPLICATE", "").strip() == "1",
                         crash_rate=env_float("LOCAL_CHAOS_CRASH_RATE", 0.0),
                         chaos_seed=int(env_float("LOCAL_CHAOS_SEED", 1)))
    from infra.local import alarms

    runner.alarm_state = lambda: alarms.evaluate(config["template"], config["queues"], runner.sqs)
    from infra.local import streams

    runner.streams = streams.StreamConsumers(runner, config["template"], config["queues"], stream_clients(region))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for line in runner.describe() + runner.streams.describe():
        runner._say(line)
    if runner.duplicate or runner.crash_rate:
        runner._say(f"chaos: every SQS batch delivered twice={runner.duplicate}, crash rate={runner.crash_rate}")
    runner.preload()
    runner.start()
    runner.streams.start()
    server = control_server(runner, args.host, args.port) if args.port is not None else None
    runner._say(f"ready: {len(queue_sources)} queue consumers, {len(schedules)} schedules"
                + (f", control API on http://{args.host}:{server.server_address[1]}" if server else ""))
    while not stop.wait(0.5):
        pass
    if server:
        server.shutdown()
    runner.stop()
    runner._say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
