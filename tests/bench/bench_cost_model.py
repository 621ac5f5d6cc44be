"""AWS cost per million tasks, from the operations one task life actually performs (issue 7 item 6).

One Suno task is submitted through the relays' path and followed to SUCCESS by the real poll worker
against a fake upstream (as bench_task_life), under in-process moto. A botocore hook records every
DynamoDB write with the item images before and after it, and prices it with DynamoDB's own rules:
- a write costs ceil(size / 1 KB) write units for the larger of the two images; inside a transaction twice that;
- every GSI of the table pays again: a new or removed index entry costs its projected size, a changed
  index key costs a delete plus a put, a changed projected attribute costs an update; an untouched
  entry costs nothing (so KEYS_ONLY indexes are cheap and ALL-projection indexes are not);
- reads: ceil(size / 4 KB) per item read (consistent reads, as the code does them).
Item size is estimated as DynamoDB counts it (attribute name lengths + value sizes).
SQS requests and Lambda invocations are counted in the same run; API Gateway requests are the client's
submit plus FETCHES_PER_TASK status fetches. Prices are us-east-1 list prices (see PRICES).

Polling is measured twice. The lone life above is polled 4 times, one message and one worker invocation
each. In production many tasks are in flight at once and the worker merges their continuations per channel
(docs/engine.md, "Polling: fast lane and slow lane"), so tests/bench/poll_concurrency.py also runs 100 lives
at once on 2 channels through the real poll queue, in Lambda batches of the poll queue's BatchSize. The cost
lines for reads, Lambda and SQS are priced from that run (both rows are reported); the write lines come from
the lone life, and the in-flight run's writes per life are reported as a check (writes do not batch).

Run: `.venv/bin/python -m tests.bench cost_model`. docs/cost-model.md explains the table.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

PRICES = {  # USD, us-east-1 list prices
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,  # arm64
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB request
    "apigw_request": 3.50 / 1e6,  # REST API, first 333 M
}
LAMBDA_GB = 0.5  # MemorySize 512 in template.yaml Globals
# Assumed billed durations: per API invocation (the submit); per client fetch (its reads are two or three
# GetItems of a few ms each, see its row); per poll message handled (its reads, one upstream call and its
# writes are sequential round trips: a Lambda batch of k messages bills about k times this), and per
# stream-consumer batch. Lambda's request charge is per invocation (counted).
LAMBDA_SECONDS = {"api": 0.15, "fetch": 0.05, "worker": 0.3}
FETCHES_PER_TASK = 5  # client status fetches per task (the relay's GET /suno/fetch/{id})
QUIET_LIVES = 20  # lives measured one task per stream batch (every batch alike: 20 show the mean)

_local = threading.local()


def _size(value: Any) -> int:
    """DynamoDB's item size rules, approximately (wire-format value: {"S": ...}, {"N": ...}, ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return max(1, len(str(inner).lstrip("-").replace(".", "")) // 2 + 1)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in inner)
    return len(str(inner))


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(k.encode()) + _size(v) for k, v in (item or {}).items())


def _wu(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class CapacityRecorder:
    """Prices every DynamoDB request made while active (write units with GSIs, read units)."""

    def __init__(self) -> None:
        from taskcenter.store.models import ALL_MODELS

        self.indexes: dict[str, list[tuple[str, list[str], str, list[str]]]] = {}
        self.keys: dict[str, list[str]] = {}
        for model in ALL_MODELS:
            table = model.Meta.table_name
            self.keys[table] = [a.attr_name for a in (model._hash_key_attribute(), model._range_key_attribute())
                                if a is not None]
            for index in model._indexes.values():
                schema = index._get_schema()
                attrs = [k["AttributeName"] for k in schema["key_schema"]]
                projection = schema["projection"]["ProjectionType"]  # ALL | KEYS_ONLY | INCLUDE
                included = list(schema["projection"].get("NonKeyAttributes") or [])
                self.indexes.setdefault(table, []).append((schema["index_name"], attrs, projection, included))
        self.wru = 0
        self.gsi_wru = 0
        self.index_wru: Counter = Counter()  # GSI write units by index name (the same units, split)
        self.rru = 0
        self.write_requests = 0
        self.sqs_requests = 0
        self.sqs_messages = 0
        self.sqs_ops: Counter = Counter()  # SQS requests by operation
        self.rru_ops: Counter = Counter()  # read units by operation

    def _get(self, client: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        _local.inside = True
        try:
            return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        finally:
            _local.inside = False

    def _gsi_units(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        total = 0
        base_keys = self.keys.get(table, [])
        for name, keys, projection, included in self.indexes.get(table, []):
            units = 0
            was = old is not None and all(k in old for k in keys)
            now = new is not None and all(k in new for k in keys)

            def projected(item: dict[str, Any], keys: list[str] = keys, projection: str = projection,
                          included: list[str] = included) -> dict:
                if projection == "ALL":
                    return item
                return {k: v for k, v in item.items() if k in keys or k in base_keys or k in included}

            if was and not now:
                units += _wu(item_size(projected(old)))  # type: ignore[arg-type]
            elif now and not was:
                units += _wu(item_size(projected(new)))  # type: ignore[arg-type]
            elif was and now:
                if any(old.get(k) != new.get(k) for k in keys):  # type: ignore[union-attr]
                    units += _wu(item_size(projected(old))) + _wu(item_size(projected(new)))  # type: ignore[arg-type]
                elif projected(old) != projected(new):  # type: ignore[arg-type]
                    units += _wu(item_size(projected(new)))  # type: ignore[arg-type]
            self.index_wru[name] += units
            total += units
        return total

    def __enter__(self) -> CapacityRecorder:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        orig, rec = self._orig, self

        def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if getattr(_local, "inside", False):
                return orig(client, operation, params)
            if service == "sqs":
                rec.sqs_requests += 1
                rec.sqs_ops[operation] += 1
                if operation == "SendMessage":
                    rec.sqs_messages += 1
                elif operation == "SendMessageBatch":
                    rec.sqs_messages += len(params.get("Entries", []))
                return orig(client, operation, params)
            if service != "dynamodb":
                return orig(client, operation, params)
            targets: list[tuple[str, dict[str, Any], int]] = []  # (table, key, transactional factor)
            if operation == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    (kind, body), = entry.items()
                    if kind == "ConditionCheck":
                        continue
                    table = body["TableName"]
                    key = body.get("Key") or {k: body["Item"][k] for k in rec.keys[table]}
                    targets.append((table, key, 2))
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                table = params["TableName"]
                key = params.get("Key") or {k: params["Item"][k] for k in rec.keys[table]}
                targets.append((table, key, 1))
            before = {(t, repr(k)): rec._get(client, t, k) for t, k, _ in targets}
            reply = orig(client, operation, params)
            if targets:
                rec.write_requests += 1
            for table, key, factor in targets:
                old, new = before[(table, repr(key))], rec._get(client, table, key)
                rec.wru += factor * _wu(max(item_size(old), item_size(new)))
                rec.gsi_wru += rec._gsi_units(table, old, new)
            for item in _items_read(operation, reply):
                units = max(1, math.ceil(item_size(item) / 4096))
                rec.rru += units
                rec.rru_ops[operation] += units
            return reply

        BaseClient._make_api_call = spy
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig


def _items_read(operation: str, reply: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "GetItem":
        return [reply["Item"]] if reply.get("Item") else []
    if operation in ("Query", "Scan"):
        return list(reply.get("Items", []))
    if operation == "BatchGetItem":
        return [i for items in reply.get("Responses", {}).values() for i in items]
    return []


def rows() -> list[dict[str, Any]]:
    from tests.bench.bench_task_life import in_moto_world

    # The in-flight run gets a world of its own: moto copies every table a transaction touches, so the
    # same run after the others (bigger tables, longer streams) would take minutes instead of seconds.
    flight = in_moto_world(_in_flight)
    return in_moto_world(lambda world, monkeypatch: _measure(world, monkeypatch, *flight))


def _spec() -> Any:
    from taskcenter.services.core import submission

    return submission.TaskSpec(platform="suno", kind="task", action="MUSIC", model_name="suno_music",
                               payload={"prompt": "a song about the sea", "tags": "folk", "title": "Sea"},
                               properties={"prompt": "a song about the sea"})


CLIPS = {"clips": [{"id": f"clip{i}", "status": "complete", "audio_url": f"https://cdn.example.com/{i}.mp3",
                    "image_url": f"https://cdn.example.com/{i}.jpg", "title": "Sea", "duration": 181.4}
                   for i in range(2)]}


def _in_flight(world: Any, monkeypatch: Any) -> tuple[Any, CapacityRecorder]:
    """Polling at a stated concurrency (tests/bench/poll_concurrency.py): its lives on 2 channels."""
    from taskcenter import clock
    from taskcenter.services.admin import operations as admin

    from functions import jobs
    from tests.bench import poll_concurrency
    from tests.engine_support import FakeUpstream, install_fake_upstream

    clock.set_now(1_760_000_000_000)
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)  # also clears the channel cache
    for base in ("https://suno-a.example.com", "https://suno-b.example.com"):
        admin.create_channel("suno", base)
    recorder = CapacityRecorder()
    return poll_concurrency.measure(recorder, upstream, _spec(), jobs.poll_worker, CLIPS), recorder


def _measure(world: Any, monkeypatch: Any, flight: Any, flight_rec: CapacityRecorder) -> list[dict[str, Any]]:
    from taskcenter import clock, settings
    from taskcenter.domain import states
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import submission
    from taskcenter.services.core.auth import authenticate_relay
    from taskcenter.store import tasks as task_store

    from functions import jobs
    from tests.engine_support import FakeUpstream, install_fake_upstream, sqs_event

    clock.set_now(1_760_000_000_000)
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    admin.create_channel("suno", "https://suno-a.example.com")
    principal = authenticate_relay(f"Bearer {world.user.api_key}")
    spec = _spec()
    polls = 0

    def poll(task: Any) -> None:
        nonlocal polls
        polls += 1
        jobs.poll_worker(sqs_event([{"channel_id": int(task.channel_id), "task_ids": [task.task_id]}]), None)

    submission.submit_now(principal, spec)  # takes this process's numeric-id block (1 write per 50 tasks)
    with CapacityRecorder() as rec:
        task = submission.submit_now(principal, spec)
        poll(task)
        upstream.set(task.upstream_id, states.IN_PROGRESS)
        clock.advance(10)
        poll(task)
        poll(task)
        upstream.set(task.upstream_id, states.SUCCESS, data=CLIPS)
        clock.advance(10)
        poll(task)
    final = task_store.get(task.task_id)
    assert final.status == states.SUCCESS
    life_polls = polls
    # the client's fetches, through the route (auth included): their reads and Lambda invocations are priced too
    from chalice.test import Client

    from app import app

    with Client(app) as http, CapacityRecorder() as fetch_rec:
        for _ in range(FETCHES_PER_TASK):
            reply = http.http.get(f"/suno/fetch/{task.task_id}",
                                  headers={"Authorization": f"Bearer {world.user.api_key}"})
            assert reply.status_code == 200, reply.body
    fetch_rru = fetch_rec.rru / FETCHES_PER_TASK
    # the stream consumer (listing counters, events): one Lambda batch shared by the lives that wrote it
    from tests.bench import poll_concurrency, stream_batch

    def stream_share(**how: Any) -> tuple[Any, CapacityRecorder, dict[str, float]]:
        recorder = CapacityRecorder()
        got = stream_batch.measure(stream_batch.stream_reader(), recorder, poll, upstream, spec, **how)
        return got, recorder, {"wru": recorder.wru / got.lives, "gsi": recorder.gsi_wru / got.lives,
                               "rru": recorder.rru / got.lives, "batches": got.batches / got.lives,
                               "sqs": (recorder.sqs_requests + 2 * recorder.sqs_messages) / got.lives}

    share, share_rec, busy = stream_share()
    quiet_share, _, quiet = stream_share(lives=QUIET_LIVES, tasks_per_batch=1)
    _, _, four = stream_share(lives=QUIET_LIVES, tasks_per_batch=4)

    # polling at a stated concurrency (measured in its own world, see rows): lives in flight on 2 channels
    n = flight.lives
    flight_sends = flight_rec.sqs_ops["SendMessage"] + flight_rec.sqs_ops["SendMessageBatch"]
    if flight.messages != flight_rec.sqs_messages:
        raise AssertionError(f"{flight_rec.sqs_messages} poll messages sent but {flight.messages} handled")

    def price(rru: float, invocations: float, messages: float, sqs_requests: float,
              stream: dict[str, float] = busy) -> dict[str, float]:
        """Per task; invocations and messages are the poll worker's per life (the stream share is added)."""
        seconds = (LAMBDA_SECONDS["api"] + LAMBDA_SECONDS["fetch"] * FETCHES_PER_TASK
                   + LAMBDA_SECONDS["worker"] * (messages + stream["batches"]))
        return {
            "DynamoDB writes (table)": (rec.wru + stream["wru"]) * PRICES["dynamodb_wru"],
            "DynamoDB writes (GSIs)": (rec.gsi_wru + stream["gsi"]) * PRICES["dynamodb_wru"],
            "DynamoDB reads": (rru + stream["rru"] + fetch_rec.rru) * PRICES["dynamodb_rru"],
            "Lambda": (1 + FETCHES_PER_TASK + invocations + stream["batches"]) * PRICES["lambda_request"]
                      + LAMBDA_GB * seconds * PRICES["lambda_gb_second"],
            "SQS": (sqs_requests + stream["sqs"]) * PRICES["sqs_request"],
            "API Gateway": (1 + FETCHES_PER_TASK) * PRICES["apigw_request"],
        }

    # each message: its send (counted) + the Lambda poller's receive and delete
    lone = price(rec.rru, life_polls, life_polls, rec.sqs_requests + 2 * rec.sqs_messages)
    in_flight = (flight_rec.rru / n, flight.batches / n, flight.messages / n, (flight_sends + 2 * flight.messages) / n)
    per_task = price(*in_flight)
    total, lone_total = sum(per_task.values()), sum(lone.values())
    quiet_total = sum(price(*in_flight, stream=quiet).values())
    where = f"{n} lives in flight on {len(flight.per_channel)} channels"
    split = "/".join(str(k) for k in flight.per_channel.values())
    receives = flight.sqs_ops["ReceiveMessage"]
    deletes = flight.sqs_ops["DeleteMessage"] + flight.sqs_ops["DeleteMessageBatch"]
    out: list[dict[str, Any]] = [
        {"metric": "write units per task life (table / GSIs)",
         "value": f"{rec.wru + busy['wru']:.1f} / {rec.gsi_wru + busy['gsi']:.1f}", "unit": "WRU",
         "note": f"lone life: {rec.write_requests} write requests ({rec.wru} / {rec.gsi_wru} WRU) + the stream "
                 f"consumer's counter writes, {share_rec.wru} WRU per batch of {share.records} records / "
                 f"{share.lives} lives; task item {item_size(_raw(final))} B"},
        {"metric": "... the same, one task per stream batch (a quiet stack)",
         "value": f"{rec.wru + quiet['wru']:.1f} / {rec.gsi_wru + quiet['gsi']:.1f}", "unit": "WRU",
         "note": f"{quiet_share.records} records of {quiet_share.lives} lives in {quiet_share.batches} batches: "
                 f"{quiet['wru']:.1f} consumer units per life, against {busy['wru']:.1f} at {share.records} "
                 f"records per {share.batches} batches (stream_batch.py); 4 tasks per batch: {four['wru']:.1f}, "
                 f"total {sum(price(*in_flight, stream=four).values()) * 1e6:,.2f} USD per 1M tasks"},
        {"metric": f"... check: writes per life, {where}",
         "value": f"{flight_rec.wru / n:.2f} / {flight_rec.gsi_wru / n:.2f}", "unit": "WRU",
         "note": f"{flight_rec.write_requests / n:.2f} write requests per life (lone: {rec.write_requests}): "
                 f"{flight_rec.write_requests - n * rec.write_requests} more in {n} lives, the numeric-id blocks "
                 f"(1 UpdateItem per {settings.get().id_block_size} tasks; the lone life's was taken before it)"},
        {"metric": "read units per task life, lone task", "value": f"{rec.rru + share_rec.rru / share.lives:.1f}",
         "unit": "RRU", "note": f"{life_polls} polls, one message each; client fetches not included"},
        {"metric": "read units per client fetch (GET /suno/fetch/{id}, its auth included)",
         "value": f"{fetch_rru:.1f}", "unit": "RRU",
         "note": f"{FETCHES_PER_TASK} fetches per task priced: {fetch_rec.rru} RRU, {FETCHES_PER_TASK} Lambda "
                 f"invocations of {LAMBDA_SECONDS['fetch']} s; by operation: "
                 + ", ".join(f"{op} {units / FETCHES_PER_TASK:.2f}"
                             for op, units in sorted(fetch_rec.rru_ops.items()))},
        {"metric": f"read units per task life, {where}",
         "value": f"{flight_rec.rru / n + share_rec.rru / share.lives:.1f}", "unit": "RRU",
         "note": f"submit {flight.submit_rru / n:.2f} + polls {(flight_rec.rru - flight.submit_rru) / n:.2f}; by "
                 "operation: " + ", ".join(f"{op} {units / n:.2f}" for op, units in sorted(flight_rec.rru_ops.items()))
                 + " (a message reads its tasks, 1 unit per task item, and its channel once); priced"},
        {"metric": "SQS messages / requests per task life, lone task",
         "value": f"{rec.sqs_messages} / {rec.sqs_requests + 2 * rec.sqs_messages}", "unit": "count",
         "note": "requests: each message's send + the Lambda poller's receive and delete"},
        {"metric": f"SQS messages / requests per task life, {where}",
         "value": f"{flight.messages / n:.2f} / {(flight_sends + 2 * flight.messages) / n:.2f}", "unit": "count",
         "note": f"priced the same way (an upper bound); the bench's own poller made {receives / n:.2f} receives "
                 f"(up to {min(poll_concurrency.SQS_MAX_BATCH, flight.batch_size)} messages each) and "
                 f"{deletes / n:.2f} DeleteMessageBatch per life"},
        {"metric": "poll-worker invocations per task life, lone task / in flight",
         "value": f"{life_polls} / {flight.batches / n:.2f}", "unit": "count",
         "note": f"{where} ({split}), Lambda batches of {flight.batch_size} (app.py's poll BatchSize): "
                 + ", ".join(f"link {i + 1}: {link.messages} msgs in {link.batches} batches, "
                             f"{link.upstream_calls} upstream calls" for i, link in enumerate(flight.links))},
    ]
    for name, usd in per_task.items():
        note = f"{usd / total:.0%} of total"
        if name in ("DynamoDB reads", "Lambda", "SQS"):
            note += f"; {where} (lone task: {lone[name] * 1e6:,.2f})"
        out.append({"metric": f"cost per 1M tasks: {name}", "value": f"{usd * 1e6:,.2f}", "unit": "USD",
                    "note": note})
    out.append({"metric": "cost per 1M tasks: total", "value": f"{total * 1e6:,.2f}", "unit": "USD",
                "note": f"polling priced at {where} (every task alone: {lone_total * 1e6:,.2f}; with one task "
                        f"per stream batch, a quiet stack: {quiet_total * 1e6:,.2f}); assumes "
                        f"{FETCHES_PER_TASK} client fetches per task, Lambda {LAMBDA_GB} GB arm64"})
    return out


def _raw(task: Any) -> dict[str, Any]:
    return task.serialize()
