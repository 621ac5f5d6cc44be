"""SQS sender behind a small interface (the only module that talks to SQS directly).

Message bodies (JSON):
- poll:   {"channel_id": int, "task_ids": [str, ...], "chain": int}   one upstream batch fetch
- refund: {"task_id": str, "attempt": int}                           refund one failed attempt
- retry:  {"task_id": str, "attempt": int, "reason": str, ...}        resubmit one task
"""

from __future__ import annotations

import json
from typing import Any

from taskcenter import config


def _sqs() -> Any:
    from taskcenter.store.db import aws_client  # late: the app's cold start does not load storage for SQS

    return aws_client("sqs")


def send(queue: str, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
    """Send one message to a logical queue (poll | refund | retry). Returns the message id."""
    url = config.queue_url(queue)
    if not url:
        raise RuntimeError(f"queue {queue!r} is not configured ({config.QUEUE_ENV[queue]} unset)")
    reply = _sqs().send_message(QueueUrl=url, MessageBody=json.dumps(body, separators=(",", ":")),
                                DelaySeconds=max(0, min(int(delay_seconds), 900)))
    return str(reply["MessageId"])


def send_many(queue: str, bodies: list[dict[str, Any]], *, delay_seconds: int = 0) -> int:
    """Send in batches of 10. Returns how many were accepted; raises if any entry failed."""
    url = config.queue_url(queue)
    if not url:
        raise RuntimeError(f"queue {queue!r} is not configured")
    sent = 0
    for start in range(0, len(bodies), 10):
        chunk = bodies[start:start + 10]
        entries = [{"Id": str(i), "MessageBody": json.dumps(b, separators=(",", ":")),
                    "DelaySeconds": max(0, min(int(delay_seconds), 900))} for i, b in enumerate(chunk)]
        reply = _sqs().send_message_batch(QueueUrl=url, Entries=entries)
        if reply.get("Failed"):
            raise RuntimeError(f"SQS refused {len(reply['Failed'])} messages: {reply['Failed'][:2]}")
        sent += len(reply.get("Successful", []))
    return sent


def task_message(body: str | dict[str, Any], queue: str) -> tuple[dict[str, Any], str, int]:
    """A task message's body (the refund and retry queues): the raw dict, its task_id and attempt.
    ValueError/KeyError for a malformed one (the consumer reports it as a failed record)."""
    raw = json.loads(body) if isinstance(body, str) else dict(body)
    task_id = raw.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError(f"{queue} message needs a task_id")
    return raw, task_id, int(raw["attempt"])
