"""Engine test support: a scripted fake upstream registered as the "suno" provider, task helpers,
and a driver that feeds SQS messages from the (moto) queues to the job handlers. Not production code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from taskcenter import config
from taskcenter.domain import states
from taskcenter.providers import base
from taskcenter.providers.base import (
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)
from taskcenter.services.core import channels as channel_service
from taskcenter.store import counters, money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

from tests.support import use_provider

PRICE = 1000


@dataclass
class FakeUpstream:
    """What the simulated upstream knows. Tests script it; the provider below reads it."""

    states: dict[str, UpstreamState] = field(default_factory=dict)
    fetch_calls: list[list[str]] = field(default_factory=list)
    submits: list[str] = field(default_factory=list)
    fetch_error: Exception | None = None
    submit_errors: list[Exception] = field(default_factory=list)  # raised by the next submits, in order
    before_reply: Callable[[], None] | None = None  # e.g. a barrier, to line racing workers up

    def set(self, upstream_id: str, status: str, **kwargs: Any) -> None:
        self.states[upstream_id] = UpstreamState(upstream_id=upstream_id, status=status, **kwargs)

    def forget(self, upstream_id: str) -> None:
        self.states.pop(upstream_id, None)


def install_fake_upstream(monkeypatch: Any, upstream: FakeUpstream, channel_type: str = "suno") -> None:
    class FakeProvider:
        def __init__(self, channel: base.ChannelInfo) -> None:
            self.channel = channel

        def submit(self, request: SubmitRequest) -> SubmitResult:
            if upstream.submit_errors:
                raise upstream.submit_errors.pop(0)
            upstream_id = f"up-{request.task_id}"
            upstream.submits.append(request.task_id)
            upstream.set(upstream_id, states.SUBMITTED)
            return SubmitResult(upstream_id=upstream_id)

        def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
            upstream.fetch_calls.append(list(upstream_ids))
            if upstream.fetch_error is not None:
                raise upstream.fetch_error
            reply = {u: upstream.states[u] for u in upstream_ids if u in upstream.states}
            if upstream.before_reply is not None:
                upstream.before_reply()
            return reply

        def cancel(self, upstream_id: str) -> bool:
            return False

    use_provider(monkeypatch, channel_type, FakeProvider)
    channel_service.clear_cache()


def new_charged_task(account: Any, channel_id: int, *, status: str = states.SUBMITTED, quota: int = PRICE,
                     upstream_id: str | None = None, next_poll_at: int | None = None, **fields: Any) -> Task:
    """A charged task as submission leaves it: SUBMITTED with an upstream id, in the poll index."""
    data = fields.pop("data", None)
    nid = counters.next_id("task")
    task_id = f"task_e{nid}"
    task = task_store.build_task(task_id=task_id, numeric_id=nid, kind="task", platform="suno",
                                 user_id=account.user_id, action="MUSIC", status=status, channel_id=channel_id,
                                 quota=quota, model_name="suno_music", key_hash=account.key_hash,
                                 upstream_id=f"up-{task_id}" if upstream_id is None else upstream_id, **fields)
    if data is not None:
        task.data = data
    if next_poll_at is not None:
        task_store.schedule_poll(task, next_poll_at)
    task_store.create_charged(money.Payer(account.user_id, account.key_hash), [task])
    return task


def transient(message: str = "503 from upstream") -> TransientUpstreamError:
    return TransientUpstreamError(message, status=503)


# ---------------------------------------------------------------- queues
def _sqs() -> Any:
    return boto3.client("sqs", region_name=config.region())


def receive(queue: str, *, max_messages: int = 10, dlq: bool = False) -> list[dict[str, Any]]:
    """Receive (and leave in flight) up to 10 visible messages of a logical queue."""
    url = os.environ.get(config.QUEUE_ENV[queue].replace("_URL", "_DLQ_URL"), "") if dlq else config.queue_url(queue)
    reply = _sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages, VisibilityTimeout=0,
                                   AttributeNames=["All"], MessageAttributeNames=["All"])
    return reply.get("Messages", [])


def drain(queue: str, *, dlq: bool = False) -> list[dict[str, Any]]:
    """Every visible message body of a queue, deleted from it (delays are ignored by moto's receive)."""
    url = os.environ.get(config.QUEUE_ENV[queue].replace("_URL", "_DLQ_URL"), "") if dlq else config.queue_url(queue)
    bodies: list[dict[str, Any]] = []
    while True:
        reply = _sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
        messages = reply.get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            _sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def sqs_event(bodies: list[dict[str, Any]], queue: str = "poll", ids: list[str] | None = None) -> dict[str, Any]:
    """An SQS Lambda event with distinct message ids (Chalice's generator repeats one id)."""
    return {"Records": [{
        "messageId": (ids[i] if ids else f"m{i}"),
        "receiptHandle": f"rh{i}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:test-{queue}",
        "awsRegion": "us-east-1",
    } for i, body in enumerate(bodies)]}


SCHEDULE_EVENT = {"version": "0", "account": "123456789012", "region": "us-east-1", "detail": {},
                  "detail-type": "Scheduled Event", "source": "aws.events", "time": "2025-10-09T08:53:20Z",
                  "id": "e1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/x"]}


def run_queue(queue: str, handler: Any, *, rounds: int = 50) -> int:
    """Feed a queue to its handler as Lambda would (batches of 10, partial failures, redrive by moto).

    Messages a handler reports failed stay in the queue (visibility 0 here, so they come back at once,
    counting receives toward the redrive policy). Returns how many messages were handled.
    """
    url = config.queue_url(queue)
    handled = 0
    for _ in range(rounds):
        reply = _sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                       AttributeNames=["All"])
        messages = reply.get("Messages", [])
        if not messages:
            return handled
        event = sqs_event([json.loads(m["Body"]) for m in messages], queue, [m["MessageId"] for m in messages])
        try:
            response = handler(event, None)
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:  # the whole batch failed (Powertools raises when every record failed)
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            if m["MessageId"] in failed:
                _sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            else:
                _sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                handled += 1
    return handled
