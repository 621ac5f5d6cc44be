"""Webhooks on the local stack over HTTP (docs/webhooks.md): the real API, the event runner draining the
webhook queue as template.yaml declares it, the local receiver component verifying every request with the
`standardwebhooks` library.

- A receiver that answers 500 twice and then 200 sees each event exactly once as delivered (the retries
  carry the same webhook-id), in order per task.
- A receiver that always fails ends disabled with a readable reason, its events in the webhook queue's
  dead-letter queue, and the dead-letter queue's alarm (template.yaml) raised.
- A midjourney-proxy client's notifyHook receives the task object on each status change.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, _account, start_stack, stop_stack
from tests.support import Account

pytestmark = pytest.mark.e2e

HOOKS_ENV = {
    "LOCAL_SCHEDULE_SCALE": "0.05",
    "LOCAL_VISIBILITY_SCALE": "0.005",  # an abandoned message is received again after ~2 s, not 6 min
    "POLL_CHAIN_DELAY_SECONDS": "1",
    "FIRST_POLL_SECONDS": "1",
    "POLL_FAST_WINDOW_SECONDS": "6",
    "POLL_PROGRESS_MIN_INTERVAL_SECONDS": "0",
    "MJ_SIM_STEP_SECONDS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1,1,1,1,1",
    "WEBHOOK_ORDER_WAIT_SECONDS": "1",
    "WEBHOOK_DISABLE_AFTER_SECONDS": "8",
}
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def hooks_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    mp = pytest.MonkeyPatch()
    for name, value in HOOKS_ENV.items():
        mp.setenv(name, value)
    state_dir: Path = tmp_path_factory.mktemp("hooks-stack")
    try:
        proc, doc = start_stack(state_dir)
    finally:
        mp.undo()  # start_stack copied the environment
    try:
        yield RunningStack(api_url=doc["api_url"], moto_url=doc["moto_url"], admin=_account(doc["admin"]),
                           demo=_account(doc["demo"]), channels=doc["channels"], components=doc["components"],
                           env=doc["env"], state_dir=state_dir, raw=doc)
    finally:
        stop_stack(proc)


def _http(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return json.loads(reply.read())


def receiver_url(stack: RunningStack) -> str:
    url = stack.components.get("webhook-receiver") or stack.env.get("WEBHOOK_RECEIVER_URL")
    assert url, f"no webhook receiver component (components: {sorted(stack.components)})"
    return str(url)


def script(stack: RunningStack, path: str, statuses: list[int], then: int, secret: str = "") -> None:
    _http("POST", f"{receiver_url(stack)}/control/script",
          {"path": path, "statuses": statuses, "then": then, "secrets": [secret] if secret else []})


def received(stack: RunningStack, path: str) -> list[dict[str, Any]]:
    return list(_http("GET", f"{receiver_url(stack)}/control/received?path={path}"))


def fresh_account(stack: RunningStack, monkeypatch: pytest.MonkeyPatch, prefix: str) -> Account:
    stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin

    name = prefix + secrets.token_hex(3)
    user = admin.create_user(name, quota=5_000_000, plan="Pro")
    access = admin.issue_credential(user["id"], "access")
    key = admin.issue_credential(user["id"], "key")
    return Account(user["id"], name, access["token"], key["token"], key["token_hash"])


def add_endpoint(stack: RunningStack, account: Account, url: str) -> dict[str, Any]:
    status, reply = stack.post("/api/webhook/self", {"url": url}, headers=account.dashboard_headers())
    assert status == 200 and reply["success"], reply
    return reply["data"]


def wait_until(what: str, check: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)  # the event runner works on its own schedule; the test only watches
    pytest.fail(f"not within {DEADLINE_S}s: {what}")


def imagine(stack: RunningStack, account: Account, **extra: Any) -> str:
    status, reply = stack.post("/mj/submit/imagine", {"prompt": "a fox", **extra}, headers=account.relay_headers())
    assert status == 200 and reply["code"] == 1, reply
    return str(reply["result"])


def test_retried_deliveries_arrive_once_each_in_order(hooks_stack: RunningStack,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    account = fresh_account(hooks_stack, monkeypatch, "hookok")
    path = f"/ok-{account.user_id}"
    endpoint = add_endpoint(hooks_stack, account, receiver_url(hooks_stack) + path)
    script(hooks_stack, path, [500, 500], 200, endpoint["secret"])
    tasks = [imagine(hooks_stack, account), imagine(hooks_stack, account, prompt="sim:fail a fox")]

    def finished() -> list[dict[str, Any]] | None:
        rows = [r for r in received(hooks_stack, path) if r["status"] == 200]
        ends = {json.loads(r["body"])["data"]["task_id"] for r in rows
                if json.loads(r["body"])["type"] in ("task.succeeded", "task.refunded")}
        return rows if ends == set(tasks) else None

    delivered = wait_until("both tasks' last events delivered", finished)
    everything = received(hooks_stack, path)
    assert everything and all(r["verified"] for r in everything)  # standardwebhooks.Webhook.verify
    ids = [r["headers"]["webhook-id"] for r in delivered]
    assert len(ids) == len(set(ids))  # each event delivered exactly once
    failed = [r for r in everything if r["status"] == 500]
    retried = {r["headers"]["webhook-id"] for r in failed}
    assert len(failed) == 2 and retried <= set(ids)  # each refused event was retried with its id, then delivered
    for task_id in tasks:
        events = [json.loads(r["body"]) for r in delivered]
        types = [e["type"] for e in events if e["data"]["task_id"] == task_id]
        assert types[0] == "task.submitted", types
        assert types[-1] in ("task.succeeded", "task.refunded"), types
        if "task.failed" in types:
            assert types[-2:] == ["task.failed", "task.refunded"], types
    status, log = hooks_stack.get(f"/api/webhook/self/{endpoint['id']}/deliveries",
                                  headers=account.dashboard_headers())
    assert status == 200 and any(a["status_code"] == 500 and a["next_retry_at"] for a in log["data"])
    # The secret that signed all of it is sealed at rest (docs/webhooks.md "Signing secrets at rest").
    from taskcenter.store.db import aws_client
    from taskcenter.store.models import WebhookItem

    raw = aws_client("dynamodb").get_item(
        TableName=WebhookItem.Meta.table_name, ConsistentRead=True,
        Key={"pk": {"S": f"user#{account.user_id}"}, "sk": {"S": f"ep#{endpoint['id']}"}})["Item"]
    assert raw["secret"]["S"].startswith("kms1:") and endpoint["secret"][6:] not in json.dumps(raw)


def test_an_always_failing_receiver_ends_disabled_dead_lettered_and_alarmed(
        hooks_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    account = fresh_account(hooks_stack, monkeypatch, "hookdown")
    path = f"/down-{account.user_id}"
    endpoint = add_endpoint(hooks_stack, account, receiver_url(hooks_stack) + path)
    script(hooks_stack, path, [], 500, endpoint["secret"])
    imagine(hooks_stack, account)

    def disabled() -> dict[str, Any] | None:
        status, listing = hooks_stack.get("/api/webhook/self", headers=account.dashboard_headers())
        row = next(e for e in listing["data"] if e["id"] == endpoint["id"])
        return row if row["status"] == "disabled" else None

    row = wait_until("the endpoint disabled", disabled)
    assert row["disabled_reason"].startswith("every delivery has failed since") and "HTTP 500" in row["disabled_reason"]
    import boto3

    sqs = boto3.client("sqs")
    dlq = hooks_stack.env["WEBHOOK_QUEUE_DLQ_URL"]

    def dead_lettered() -> list[dict[str, Any]]:
        depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return [1] * int(depth["Attributes"]["ApproximateNumberOfMessages"])

    wait_until("the webhook dead-letter queue holds the undelivered events", dead_lettered)
    runner = hooks_stack.components["event-runner"]
    alarms = wait_until("the dead-letter queue alarm raised", lambda: [
        a for a in _http("GET", f"{runner}/alarms")["alarms"] if a["state"] == "ALARM"
        and a["alarm"] == "WebhookDeadLetterQueueAlarm"])
    assert alarms[0]["depth"] >= 1


def test_notify_hook_receives_the_task_object_on_each_change(hooks_stack: RunningStack,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    account = fresh_account(hooks_stack, monkeypatch, "hookmj")
    path = f"/notify-{account.user_id}"
    script(hooks_stack, path, [], 200)
    task_id = imagine(hooks_stack, account, notifyHook=receiver_url(hooks_stack) + path, state="client-state")
    rows = wait_until("the SUCCESS notification", lambda: [
        r for r in received(hooks_stack, path) if json.loads(r["body"])["status"] == "SUCCESS"] and
        received(hooks_stack, path))
    bodies = [json.loads(r["body"]) for r in rows]
    statuses = [b["status"] for b in bodies]
    assert statuses[0] == "SUBMITTED" and statuses[-1] == "SUCCESS" and "IN_PROGRESS" in statuses
    assert all(b["id"] == task_id and b["state"] == "client-state" for b in bodies)
    assert bodies[-1]["progress"] == "100%" and bodies[-1]["imageUrl"]
