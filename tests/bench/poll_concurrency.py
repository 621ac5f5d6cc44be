"""Polling at a stated concurrency, for the cost model (bench_cost_model): LIVES Suno task lives in flight
at once on CHANNELS channels, followed through the real poll queue.

LIVES users each submit one task through the relays' path (submission.submit_now, which sends that task's
first-poll message: one message per task). Then links run as bench_task_life's `_one_link` does: every
visible poll message is received and handed to the real poll worker (functions.jobs.poll_worker) in Lambda
batches of the poll queue's BatchSize (read from app.py's event source, which infra/template.py writes into
template.yaml); the worker merges the continuations of a batch per channel (docs/engine.md, "Polling: fast
lane and slow lane"). Between links the fake upstream moves every task as the lone life's does: SUBMITTED at
link 1, IN_PROGRESS at links 2 and 3, SUCCESS at link 4, so each life has the lone life's 4 polls.

The caller's CapacityRecorder sees every request of the run (submits and links); per life = totals / LIVES.
A batch's messages are deleted after it is handled (one DeleteMessageBatch), as Lambda deletes a batch's
messages once the function succeeds; receives and deletes are counted by operation for the caller's report.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LIVES = 100
CHANNELS = 2
SQS_MAX_BATCH = 10  # ReceiveMessage MaxNumberOfMessages and DeleteMessageBatch entries: SQS's own maximum


def poll_batch_size() -> int:
    """The poll worker's SQS BatchSize, from the event source the template is generated from."""
    from app import app

    for source in app.event_sources:
        if type(source).__name__ == "SQSEventConfig" and source.queue == "poll":
            return int(source.batch_size)
    raise LookupError("app.py has no SQS event source on the poll queue")


@dataclass
class Link:
    messages: int  # poll messages handled
    batches: int  # poll-worker invocations (Lambda batches)
    upstream_calls: int


@dataclass
class InFlight:
    lives: int
    batch_size: int
    per_channel: dict[int, int]
    links: list[Link]
    submit_rru: int  # read units of the submits (the rest of the recorder's reads are the polls')
    sqs_ops: Counter = field(default_factory=Counter)  # SQS requests of the links, by operation

    @property
    def messages(self) -> int:
        return sum(link.messages for link in self.links)

    @property
    def batches(self) -> int:
        return sum(link.batches for link in self.links)


def one_link(handler: Any, batch_size: int, upstream: Any) -> Link:
    """Handle every message now visible in the poll queue once, in Lambda batches; new continuations wait."""
    from taskcenter import config

    from tests.engine_support import _sqs, sqs_event

    url = config.queue_url("poll")
    messages: list[dict[str, Any]] = []
    while True:
        got = _sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=min(SQS_MAX_BATCH, batch_size),
                                     VisibilityTimeout=60).get("Messages", [])
        if not got:
            break
        messages += got
    calls = len(upstream.fetch_calls)
    batches = 0
    for start in range(0, len(messages), batch_size):
        chunk = messages[start:start + batch_size]
        reply = handler(sqs_event([json.loads(m["Body"]) for m in chunk], "poll", [m["MessageId"] for m in chunk]),
                        None)
        batches += 1
        if reply.get("batchItemFailures"):
            raise AssertionError(f"poll worker reported failures: {reply['batchItemFailures']}")
        for part in range(0, len(chunk), SQS_MAX_BATCH):
            _sqs().delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(chunk[part:part + SQS_MAX_BATCH])])
    return Link(len(messages), batches, len(upstream.fetch_calls) - calls)


def measure(recorder: Any, upstream: Any, spec: Any, handler: Any, success_data: dict[str, Any]) -> InFlight:
    """LIVES lives, submitted and polled to SUCCESS while `recorder` is active. The poll queue must be empty
    and CHANNELS Suno channels usable (submission spreads tasks over them, weighted-random by task id);
    `success_data` is what the upstream reports at SUCCESS (the lone life's clips, so the items compare)."""
    from taskcenter import clock
    from taskcenter.domain import states
    from taskcenter.services.core import submission
    from taskcenter.services.core.auth import authenticate_relay
    from taskcenter.store import tasks as task_store

    from tests.support import make_account

    users = [authenticate_relay(f"Bearer {make_account(f'inflight{i}').api_key}") for i in range(LIVES)]
    batch_size = poll_batch_size()
    stages = [None, (states.IN_PROGRESS, {}), None, (states.SUCCESS, {"data": success_data})]  # before links 1..4
    rru_before = recorder.rru
    with recorder:
        tasks = [submission.submit_now(user, spec) for user in users]
        submit_rru = recorder.rru - rru_before
        sqs_submits = Counter(recorder.sqs_ops)  # the first-poll sends (and any request before the run)
        links = []
        for stage in stages:
            if stage is not None:
                status, extra = stage
                clock.advance(10)
                for task in tasks:
                    upstream.set(task.upstream_id, status, **extra)
            links.append(one_link(handler, batch_size, upstream))
        leftover = one_link(handler, batch_size, upstream)  # nothing may chain past SUCCESS
    if leftover.messages or any(task_store.get(t.task_id).status != states.SUCCESS for t in tasks):
        raise AssertionError("the in-flight lives did not all reach SUCCESS in 4 links")
    per_channel = Counter(int(t.channel_id) for t in tasks)
    if len(per_channel) != CHANNELS:
        raise AssertionError(f"lives landed on {len(per_channel)} channels, not {CHANNELS}: {dict(per_channel)}")
    return InFlight(LIVES, batch_size, dict(sorted(per_channel.items())), links, submit_rru,
                    Counter(recorder.sqs_ops) - sqs_submits)
