"""Test support for webhooks: a receiver on 127.0.0.1 that answers from a script (e.g. 500, 500, then 200),
records every request and verifies its signature with the `standardwebhooks` library; and a drain of the
webhook queue that runs the consumer in-process. Not production code."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    verified: bool

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers `script` statuses in turn (then `then` forever), per path."""

    def __init__(self, script: list[int] | None = None, then: int = 200) -> None:
        self.script = list(script or [])
        self.then = then
        self.payload = b"ok"  # the body of every answer
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.then
                    receiver.received.append(Received(self.path, headers, body, status, receiver.verify(body, headers)))
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # a large body the client stopped reading
                    self.wfile.write(receiver.payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host_port = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except Exception:
                continue
        return False

    def delivered(self, path: str = "") -> list[Received]:
        return [r for r in self.received if 200 <= r.status <= 299 and r.path.startswith(path)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_queue_bodies(queue_env: str = "WEBHOOK_QUEUE_URL") -> list[dict[str, Any]]:
    """Every message now visible on the queue, removed (for counting what was emitted)."""
    import os

    sqs, url = boto3.client("sqs"), os.environ[queue_env]
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def drain(*, step_seconds: float = 1.0, rounds: int = 200) -> list[str]:
    """Run the webhook consumer on the queue until it is empty: each message's handler outcome, in order.
    SQS delays are collapsed (the test's frozen clock says when a retry is due): when only waiting messages
    are left, the clock moves on by `step_seconds`. A handler that raises (an abandoned message) is
    recorded as "abandoned" and the message deleted."""
    from taskcenter import clock
    from taskcenter.services.webhooks import delivery

    outcomes: list[str] = []
    for _ in range(rounds):
        bodies = webhook_queue_bodies()
        if not bodies:
            return outcomes
        progressed = False
        for body in bodies:
            try:
                outcome = delivery.handle(body)
            except delivery.DeliveryAbandoned:
                outcome = "abandoned"
            outcomes.append(outcome)
            progressed = progressed or outcome not in ("waiting", "after an earlier event", "claimed elsewhere")
        if not progressed:
            clock.advance(step_seconds)
    raise AssertionError(f"the webhook queue did not drain: {outcomes[-20:]}")


def no_sqs_delay(monkeypatch: Any) -> None:
    """Collapse SQS delays (moto keeps them in wall time; the test's clock decides when a retry is due)."""
    from taskcenter import queues

    real_send = queues.send
    monkeypatch.setattr(queues, "send", lambda queue, body, *, delay_seconds=0: real_send(queue, body))
