"""The chaos run's webhook invariant (docs/chaos.md, docs/webhooks.md): every user of the run has an
endpoint on the stack's webhook receiver (infra/local/webhook_receiver.py, which verifies each request with
the `standardwebhooks` library); every terminal event of every task of theirs must arrive at least once
with a valid signature. Duplicates (the same webhook-id answered 2xx more than once: the runner's
duplicated batches and crashes) are counted separately, not failures."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from typing import Any

TERMINAL_EVENT = {"SUCCESS": "task.succeeded", "FAILURE": "task.failed"}


def _http(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as reply:  # noqa: S310 - the local stack
        return json.loads(reply.read())


def register(user_ids: list[int], components: dict[str, Any]) -> dict[int, str]:
    """One endpoint per user at {receiver}/chaos-<user id>, scripted to answer 200; user id -> path."""
    from taskcenter.services.webhooks import endpoints

    receiver = str(components["webhook-receiver"])
    paths = {}
    for user_id in user_ids:
        path = f"/chaos-{user_id}"
        created = endpoints.create(user_id, {"url": receiver + path})
        _http("POST", f"{receiver}/control/script", {"path": path, "statuses": [], "then": 200,
                                                     "secrets": [created["secret"]]})
        paths[user_id] = path
    return paths


def _missing(tasks: list[Any], paths: dict[int, str], rows: list[dict[str, Any]]) -> list[str]:
    got = set()
    for row in rows:
        if 200 <= row["status"] <= 299 and row["verified"]:
            event = json.loads(row["body"])
            got.add((event["data"]["task_id"], event["type"]))
    return [t.task_id for t in tasks if int(t.user_id) in paths and t.status in TERMINAL_EVENT
            and (_public_id(t), TERMINAL_EVENT[t.status]) not in got]


def _public_id(task: Any) -> Any:
    """The event's `data.task_id`: what the task's own fetch takes (a Task API v1 task's numeric id)."""
    return int(task.id) if task.platform == "tikmatrix" else task.task_id


def _backlog(env: dict[str, str]) -> int:
    """Messages still in the webhook queue (visible, being handled, or delayed: retries and order waits)."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    attrs = sqs.get_queue_attributes(QueueUrl=env["WEBHOOK_QUEUE_URL"], AttributeNames=names)["Attributes"]
    return sum(int(attrs.get(name, 0)) for name in names)


def checks(tasks: list[Any], paths: dict[int, str], components: dict[str, Any], env: dict[str, str], *,
           wait_s: float = 3600.0, stalled_s: float = 120.0) -> tuple[list[Any], dict[str, Any]]:
    """Waits while deliveries are still arriving: the local stack's runner handles the webhook queue one batch
    at a time against a CPU-bound moto (Lambda would scale out), so a run's last events can be many minutes
    behind its tasks (600 tasks, 2 Dec 2026: 414 messages still queued 900 s after the streams were read, 0
    in the DLQ). It stops when every event arrived, when nothing arrived for `stalled_s` (an event not on its way
    is lost, or the pipeline is stuck: the check fails), or after `wait_s`; the detail says how many messages
    were left in the queue."""
    from tests.chaos.checks import Check

    receiver = str(components["webhook-receiver"])
    deadline = time.monotonic() + wait_s
    seen, moved_at = -1, time.monotonic()
    while True:
        rows = [r for r in _http("GET", f"{receiver}/control/received") if r["path"] in set(paths.values())]
        missing = _missing(tasks, paths, rows)
        if len(rows) != seen:
            seen, moved_at = len(rows), time.monotonic()
        stalled = time.monotonic() - moved_at > stalled_s
        if not missing or stalled or time.monotonic() > deadline:
            break
        time.sleep(2)  # deliveries go on in the stack; the driver only watches
    backlog = _backlog(env)  # what was still on its way when the check stopped
    delivered = Counter(r["headers"].get("webhook-id") for r in rows if 200 <= r["status"] <= 299)
    figures = {"webhook requests": len(rows), "webhook requests verified": sum(r["verified"] for r in rows),
               "webhook events delivered": len(delivered),
               "webhook duplicates (same id delivered again)": sum(n - 1 for n in delivered.values()),
               "webhook queue messages left at the check": backlog}
    hooked = [t for t in tasks if int(t.user_id) in paths and t.status in TERMINAL_EVENT]
    return [Check("every terminal event delivered, signed", not missing and bool(hooked) and
                  all(r["verified"] for r in rows),
                  f"{len(hooked)} terminal tasks, {len(missing)} without a verified delivery of their terminal "
                  f"event{(': ' + str(missing[:5])) if missing else ''}; "
                  f"{backlog} messages left in the webhook queue")], figures
