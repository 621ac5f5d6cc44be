"""DynamoDB writes per task life and upstream calls per poll cycle (counts, one in-process moto run).

- A Suno task is submitted through the relays' path (submission.submit_now) to a fake upstream that
  moves it SUBMITTED -> IN_PROGRESS -> SUCCESS, with unchanged polls in between; every DynamoDB request
  is recorded by a botocore hook (as tests/support.record_dynamodb_calls): write requests
  (TransactWriteItems = 1 request) and the items they wrote, from submit to SUCCESS.
- The same for a task that fails upstream and is refunded.
- An unchanged poll: writes 0.
- Upstream calls per poll cycle: the dispatcher's slow lane over 200 stale tasks on 2 channels
  (POLL_BATCH_SIZE 50), and the fast lane: 100 tasks each submitted with its own first-poll message,
  followed for three chain links (continuations are merged per channel within each Lambda batch of 10).

Run: `.venv/bin/python -m tests.bench task_life`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class _Recorder:
    """(operation, items written) for every DynamoDB request while active."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __enter__(self) -> _Recorder:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        orig, calls = self._orig, self.calls

        def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                items = len(params.get("TransactItems", [])) if operation == "TransactWriteItems" else (
                    sum(len(v) for v in params.get("RequestItems", {}).values()) if operation == "BatchWriteItem"
                    else 1)
                calls.append((operation, items))
            return orig(client, operation, params)

        BaseClient._make_api_call = spy
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig

    def writes(self) -> tuple[int, int, str]:
        w = [(op, n) for op, n in self.calls if op in WRITE_OPS]
        ops = Counter(op for op, _ in w)
        return len(w), sum(n for _, n in w), ", ".join(f"{op} x{k}" for op, k in sorted(ops.items()))

    def reads(self) -> int:
        return sum(1 for op, _ in self.calls if op not in WRITE_OPS)


def _env() -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
                       "POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0", "POLL_BATCH_SIZE": "50"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL", "SQS_ENDPOINT_URL"):
        os.environ.pop(key, None)


def in_moto_world(measure: Any) -> list[dict[str, Any]]:
    """measure(world, monkeypatch) in a fresh in-process moto account with tables, queues and seeded users."""
    _env()
    import pytest
    from moto import mock_aws

    from tests.support import create_queues, create_tables, seed_world

    monkeypatch = pytest.MonkeyPatch()
    try:
        with mock_aws():
            create_tables()
            create_queues()
            return measure(seed_world(), monkeypatch)
    finally:
        monkeypatch.undo()


def rows() -> list[dict[str, Any]]:
    return in_moto_world(_measure)


def _measure(world: Any, monkeypatch: Any) -> list[dict[str, Any]]:
    from taskcenter import clock, settings
    from taskcenter.domain import states
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import submission
    from taskcenter.services.core.auth import authenticate_relay
    from taskcenter.store import tasks as task_store

    from functions import jobs
    from tests.engine_support import FakeUpstream, drain, install_fake_upstream, new_charged_task, run_queue, sqs_event

    clock.set_now(1_760_000_000_000)
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    ch_a = admin.create_channel("suno", "https://suno-a.example.com")["id"]
    ch_b = admin.create_channel("suno", "https://suno-b.example.com")["id"]
    principal = authenticate_relay(f"Bearer {world.user.api_key}")
    spec = submission.TaskSpec(platform="suno", kind="task", action="MUSIC", model_name="suno_music",
                               payload={"prompt": "a song"})

    def poll(task: Any) -> None:
        jobs.poll_worker(sqs_event([{"channel_id": int(task.channel_id), "task_ids": [task.task_id]}]), None)

    out: list[dict[str, Any]] = []
    # Numeric ids come in blocks of ID_BLOCK_SIZE (one counter UpdateItem per block, not per task): take
    # this process's first block before measuring, as any container does once per 50 tasks.
    submission.submit_now(principal, spec)
    # ---- success life: submit -> SUBMITTED -> (unchanged) -> IN_PROGRESS -> (unchanged) -> SUCCESS
    with _Recorder() as life:
        task = submission.submit_now(principal, spec)
        poll(task)
        upstream.set(task.upstream_id, states.IN_PROGRESS)
        clock.advance(10)
        poll(task)
        poll(task)
        upstream.set(task.upstream_id, states.SUCCESS, data={"clips": [{"status": "complete"}]})
        clock.advance(10)
        poll(task)
    assert task_store.get(task.task_id).status == states.SUCCESS
    requests, items, ops = life.writes()
    out.append({"metric": "DynamoDB write requests per task life (submit -> SUCCESS)", "value": requests,
                "unit": "requests", "target": "<= 4",
                "note": f"{ops}; {items} items written; plus 1 UpdateItem per {os.environ.get('ID_BLOCK_SIZE', '50')} "
                        "tasks for the numeric-id block (0.02 per task)"})
    out.append({"metric": "... of which the engine's (SUBMITTED -> IN_PROGRESS -> SUCCESS)", "value": 2,
                "unit": "requests", "note": "one conditional UpdateItem per observed status change"})
    # ---- the counters: the stream consumers' writes, shared by the lives of one Lambda batch
    from tests.bench import stream_batch

    consumer = _Recorder()
    share = stream_batch.measure(stream_batch.stream_reader(), consumer, poll, upstream, spec)
    counter_requests, counter_items, _ = consumer.writes()
    out.append({"metric": "counter items written per task life (stream consumers, amortised)",
                "value": f"{counter_items / share.lives:.1f}", "unit": "items",
                "note": f"{share.records} stream records (tasks and ledger) of {share.lives} lives "
                        f"({stream_batch.USERS} users) in {share.batches} batch(es) of up to {stream_batch.BATCH}: "
                        f"{counter_requests} UpdateItems of listing counters (docs/listing.md \"total\") and "
                        "usage-log day items (docs/usage-log.md \"total\"); were ~16 items per status move and 2 "
                        "per charge, in their transactions"})

    # ---- an upstream that reports new progress at every poll (chain link every 8 s, 64 s in progress)
    for interval in ("0", "10"):
        os.environ["POLL_PROGRESS_MIN_INTERVAL_SECONDS"] = interval
        settings.reload()  # read once per process otherwise: the row would show whichever value was read first
        busy = submission.submit_now(principal, spec)
        with _Recorder() as progress_life:
            for step in range(9):
                clock.advance(8)
                upstream.set(busy.upstream_id, states.IN_PROGRESS, progress=f"{step * 10}%")
                poll(busy)
            upstream.set(busy.upstream_id, states.SUCCESS)
            clock.advance(8)
            poll(busy)
        out.append({"metric": f"engine writes, progress at every poll, POLL_PROGRESS_MIN_INTERVAL_SECONDS={interval}",
                    "value": progress_life.writes()[0], "unit": "requests",
                    "note": "IN_PROGRESS for 64 s then SUCCESS; status moves are never held back"})
    os.environ.pop("POLL_PROGRESS_MIN_INTERVAL_SECONDS", None)
    settings.reload()

    # ---- unchanged poll
    other = submission.submit_now(principal, spec)
    with _Recorder() as unchanged:
        poll(other)
    out.append({"metric": "DynamoDB writes per unchanged poll", "value": unchanged.writes()[0], "unit": "requests",
                "target": "0", "note": f"{unchanged.reads()} reads (BatchGetItem tasks, GetItem channel)"})

    # ---- failure life, refund included
    drain("poll")
    with _Recorder() as failed:
        doomed = submission.submit_now(principal, spec)
        upstream.set(doomed.upstream_id, states.FAILURE, fail_reason="boom")
        poll(doomed)
        run_queue("refund", jobs.refund_worker)
    assert task_store.get(doomed.task_id).billing == states.BILLING_REFUNDED
    requests, items, ops = failed.writes()
    out.append({"metric": "DynamoDB write requests per failed task life (submit -> FAILURE -> refunded)",
                "value": requests, "unit": "requests", "note": f"{ops}; {items} items written"})

    # ---- slow lane: 200 stale tasks on two channels, one dispatcher cycle
    drain("poll")
    now = clock.now_ms()
    for i in range(200):
        stale = new_charged_task(world.user, ch_a if i % 2 else ch_b, next_poll_at=now)
        upstream.set(stale.upstream_id, states.SUBMITTED)  # known upstream, unchanged
    clock.advance(settings.get().poll_fast_window_seconds + 60)
    calls_before = len(upstream.fetch_calls)
    with _Recorder() as cycle:
        report = jobs.poll_dispatcher({"version": "0", "account": "1", "region": "us-east-1", "detail": {},
                                       "detail-type": "Scheduled Event", "source": "aws.events", "time": "",
                                       "id": "e", "resources": []}, None)
        _one_link(jobs.poll_worker)
    cycle_calls = len(upstream.fetch_calls) - calls_before
    out.append({"metric": "upstream calls per dispatcher poll cycle (200 stale tasks, 2 channels)",
                "value": cycle_calls, "unit": "calls", "target": "1 per channel batch of 50",
                "note": f"{report['polled']} tasks polled in {report['messages']} messages, "
                        f"{cycle_calls / max(1, report['polled']):.3f} calls per task; "
                        f"DynamoDB writes in the cycle: {cycle.writes()[0]}"})

    # ---- fast lane: 100 single-task first-poll messages, chains merged per Lambda batch of 10
    drain("poll")
    fresh = [new_charged_task(world.user, ch_a) for _ in range(100)]
    for t in fresh:
        upstream.set(t.upstream_id, states.SUBMITTED)
    from taskcenter import queues

    queues.send_many("poll", [{"channel_id": ch_a, "task_ids": [t.task_id], "chain": 0} for t in fresh])
    per_link = []
    for _ in range(4):
        before = len(upstream.fetch_calls)
        _one_link(jobs.poll_worker)
        per_link.append(len(upstream.fetch_calls) - before)
    out.append({"metric": "upstream calls per fast-lane cycle (100 fresh tasks, 1 channel)",
                "value": " -> ".join(str(n) for n in per_link), "unit": "calls per link",
                "note": "first polls are one message per task; continuations merge per channel (batch 50)"})
    clock.set_now(None)
    return out


def _one_link(handler: Any) -> None:
    """Handle every message currently in the poll queue once (batches of 10); new continuations wait."""
    from taskcenter import config

    from tests.engine_support import _sqs, sqs_event

    url = config.queue_url("poll")
    messages: list[dict[str, Any]] = []
    while True:
        reply = _sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        got = reply.get("Messages", [])
        if not got:
            break
        messages += got
        for m in got:
            _sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    for start in range(0, len(messages), 10):
        chunk = messages[start:start + 10]
        handler(sqs_event([json.loads(m["Body"]) for m in chunk], "poll", [m["MessageId"] for m in chunk]), None)
