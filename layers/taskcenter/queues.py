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

_client: Any = None
_client_key: tuple[str, str | None] | None = None


def _sqs() -> Any:
    global _client, _client_key
    import boto3
    from botocore.config import Config

    from taskcenter.store.db import botocore_session

    key = (config.region(), config.endpoint_url("sqs"))
    if _client is None or _client_key != key:
        _client = boto3.session.Session(botocore_session=botocore_session()).client(
            "sqs", region_name=key[0], endpoint_url=key[1],
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5))
        _client_key = key
    return _client


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
