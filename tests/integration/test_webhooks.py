"""Webhooks in-process (moto): endpoints over the dashboard routes, events from the winners of task moves,
signed delivery (verified with the `standardwebhooks` library), retries with one webhook-id, order per
task, 410 and long failure disabling, the delivery log and redeliver, midjourney-proxy's notifyHook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.services.core import channels
from taskcenter.services.jobs import polling as engine
from taskcenter.store.models import Task

from infra.simulators.midjourney import MidjourneySimulator, SimConfig
from tests.webhook_support import Receiver, drain, no_sqs_delay, webhook_queue_bodies

STEP_S = 2  # simulator: seconds per progress step


@pytest.fixture
def hooks(world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The seeded world, a midjourney simulator and a receiver; the clock frozen at the real time (the
    library checks timestamps against it, within 5 minutes)."""
    clock.set_now(int(time.time() * 1000))
    sim = MidjourneySimulator(config=SimConfig(step_seconds=STEP_S), now_ms=clock.now_ms).start()
    receiver = Receiver()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{sim.host}:{sim.port},{receiver.host_port}")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "1,1,1,1")
    monkeypatch.setenv("WEBHOOK_ORDER_WAIT_SECONDS", "1")
    monkeypatch.setenv("POLL_PROGRESS_MIN_INTERVAL_SECONDS", "0")  # every progress step is written (and sent)
    no_sqs_delay(monkeypatch)
    from taskcenter.services.admin import operations as admin

    world.channels["midjourney"] = admin.create_channel("midjourney", sim.url, name="mj-sim",
                                                        secret="sim-secret")["id"]
    channels.clear_cache()
    world.extra.update(sim=sim, receiver=receiver)
    yield world
    sim.stop()
    receiver.stop()
    channels.clear_cache()
    clock.set_now(None)


def call(client: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    r = getattr(client.http, method)(path, headers=headers, body=json.dumps(body) if body is not None else None)
    return r.status_code, json.loads(r.body) if r.body else None


def add_endpoint(client: Any, account: Any, url: str, events: list[str] | None = None) -> dict[str, Any]:
    status, reply = call(client, "post", "/api/webhook/self", account.dashboard_headers(),
                         {"url": url, **({"events": events} if events is not None else {})})
    assert status == 200 and reply["success"], reply
    return reply["data"]


def imagine(client: Any, account: Any, **extra: Any) -> str:
    status, reply = call(client, "post", "/mj/submit/imagine", account.relay_headers(), {"prompt": "a cat", **extra})
    assert status == 200 and reply["code"] == 1, reply
    return reply["result"]


def run_to_end(task_id: str) -> Task:
    for _ in range(20):
        task = Task.get(task_id)
        if task.status in states.TERMINAL:
            return task
        clock.advance(STEP_S)
        engine.poll_batch(engine.PollMessage(int(task.channel_id), [task_id]))
    raise AssertionError("the task did not finish")


def test_signed_retried_once_delivered_in_order(client: Any, hooks: Any) -> None:
    receiver = hooks.extra["receiver"]
    receiver.script = [500, 500]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/events")
    receiver.secrets.append(endpoint["secret"])
    assert endpoint["secret"].startswith("whsec_")
    task_id = imagine(client, hooks.user)
    run_to_end(task_id)
    drain()

    assert receiver.received and all(r.verified for r in receiver.received)
    delivered = receiver.delivered("/events")
    ids = [r.webhook_id for r in delivered]
    assert len(ids) == len(set(ids))  # each event delivered once
    failed = [r for r in receiver.received if r.status == 500]
    assert len(failed) == 2 and failed[0].webhook_id == failed[1].webhook_id == ids[0]  # retries: same id
    types = [r.json()["type"] for r in delivered]
    assert types[0] == "task.submitted" and types[-1] == "task.succeeded" and "task.progress" in types
    assert set(types[1:-1]) == {"task.progress"}  # in order per task
    assert all(r.json()["data"]["task_id"] == task_id for r in delivered)

    status, log = call(client, "get", f"/api/webhook/self/{endpoint['id']}/deliveries", hooks.user.dashboard_headers())
    assert status == 200
    first = sorted((a for a in log["data"] if a["webhook_id"] == ids[0]), key=lambda a: a["attempt"])
    assert [a["status_code"] for a in first] == [500, 500, 200]
    assert [a["outcome"] for a in first] == ["retry", "retry", "delivered"]
    assert first[0]["next_retry_at"] is not None and first[-1]["next_retry_at"] is None


def test_notify_hook_gets_the_task_object_on_each_change(client: Any, hooks: Any) -> None:
    receiver = hooks.extra["receiver"]
    task_id = imagine(client, hooks.user, notifyHook=f"{receiver.url}/notify", state="s-1")
    run_to_end(task_id)
    drain()
    bodies = [r.json() for r in receiver.delivered("/notify")]
    assert [b["status"] for b in bodies][0] == "SUBMITTED" and bodies[-1]["status"] == "SUCCESS"
    assert "IN_PROGRESS" in [b["status"] for b in bodies]
    assert all(b["id"] == task_id and b["state"] == "s-1" and b["action"] == "IMAGINE" for b in bodies)
    assert bodies[-1]["progress"] == "100%" and bodies[-1]["imageUrl"]
    assert all("webhook-signature" not in r.headers for r in receiver.received)  # midjourney-proxy sends none


def test_notify_hook_must_be_a_url(client: Any, hooks: Any) -> None:
    status, reply = call(client, "post", "/mj/submit/imagine", hooks.user.relay_headers(),
                         {"prompt": "a cat", "notifyHook": "file:///etc/passwd"})
    assert status == 400 and "notifyHook" in json.dumps(reply)


def test_racing_movers_emit_one_event(hooks: Any, client: Any) -> None:
    receiver = hooks.extra["receiver"]
    add_endpoint(client, hooks.user, f"{receiver.url}/events")
    task_id = imagine(client, hooks.user)
    webhook_queue_bodies()  # the submitted event
    first, second = Task.get(task_id), Task.get(task_id)
    from taskcenter.services.core.lifecycle import move

    assert move(first, states.IN_PROGRESS, {}) is True
    assert move(second, states.IN_PROGRESS, {}) is False  # lost the conditional write
    events = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    assert [e["type"] for e in events] == ["task.progress"]  # one event: the winner's
    third, fourth = Task.get(task_id), Task.get(task_id)
    assert move(third, states.SUCCESS, {}) is True
    assert move(fourth, states.SUCCESS, {}) is False
    events = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    assert [e["type"] for e in events] == ["task.succeeded"]


def test_410_disables_the_endpoint(client: Any, hooks: Any) -> None:
    receiver = hooks.extra["receiver"]
    receiver.then = 410
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/gone")
    imagine(client, hooks.user)
    outcomes = drain()
    assert "abandoned" in outcomes
    assert len(receiver.received) == 1  # no retry after 410
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    row = next(e for e in listing["data"] if e["id"] == endpoint["id"])
    assert row["status"] == "disabled" and "410" in row["disabled_reason"]
    assert "secret" not in row  # shown once, at creation


def test_failing_for_days_disables_with_a_reason(client: Any, hooks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = hooks.extra["receiver"]
    receiver.then = 500
    monkeypatch.setenv("WEBHOOK_DISABLE_AFTER_SECONDS", "3")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "2,2,2,2,2,2,2,2")
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/down")
    imagine(client, hooks.user)
    outcomes = drain()
    assert outcomes.count("abandoned") == 1
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    row = next(e for e in listing["data"] if e["id"] == endpoint["id"])
    assert row["status"] == "disabled" and row["disabled_reason"].startswith("every delivery has failed since")
    assert "HTTP 500" in row["disabled_reason"]


def test_retries_give_up_after_the_schedule(client: Any, hooks: Any) -> None:
    receiver = hooks.extra["receiver"]
    receiver.then = 503
    add_endpoint(client, hooks.user, f"{receiver.url}/busy")
    imagine(client, hooks.user)
    assert drain().count("abandoned") == 1
    assert len(receiver.received) == 5  # the first attempt and the schedule's four retries
    assert len({r.webhook_id for r in receiver.received}) == 1


def test_private_addresses_are_refused(client: Any, hooks: Any) -> None:
    endpoint = add_endpoint(client, hooks.user, "http://10.1.2.3/hook")
    imagine(client, hooks.user)
    drain()
    status, log = call(client, "get", f"/api/webhook/self/{endpoint['id']}/deliveries", hooks.user.dashboard_headers())
    assert log["data"] and all(a["status_code"] is None for a in log["data"])
    assert any("refuse" in a["reason"] or "not allowed" in a["reason"] or "private" in a["reason"]
               for a in log["data"]), log["data"]


def test_event_filter_redeliver_and_rotation(client: Any, hooks: Any) -> None:
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/final", events=["task.succeeded"])
    receiver.secrets.append(endpoint["secret"])
    task_id = imagine(client, hooks.user)
    run_to_end(task_id)
    drain()
    assert [r.json()["type"] for r in receiver.received] == ["task.succeeded"]
    webhook_id = receiver.received[0].webhook_id

    status, rotated = call(client, "post", f"/api/webhook/self/{endpoint['id']}/rotate", hooks.user.dashboard_headers())
    assert status == 200 and rotated["data"]["secret"] != endpoint["secret"]
    receiver.secrets[:] = [rotated["data"]["secret"]]  # a receiver that already switched to the new secret
    status, reply = call(client, "post", f"/api/webhook/self/{endpoint['id']}/deliveries/{webhook_id}/redeliver",
                         hooks.user.dashboard_headers())
    assert status == 200 and reply["data"]["queued"]
    drain()
    assert [r.webhook_id for r in receiver.received] == [webhook_id, webhook_id]
    assert receiver.received[-1].verified
    signatures = receiver.received[-1].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2  # new and old secret during the overlap


def test_another_users_endpoints_are_invisible(client: Any, hooks: Any) -> None:
    endpoint = add_endpoint(client, hooks.user, "https://example.com/hook")
    other = hooks.other.dashboard_headers()
    status, listing = call(client, "get", "/api/webhook/self", other)
    assert status == 200 and listing["data"] == []
    for method, path, body in (("put", f"/api/webhook/self/{endpoint['id']}", {"status": "disabled"}),
                               ("post", f"/api/webhook/self/{endpoint['id']}/rotate", None),
                               ("get", f"/api/webhook/self/{endpoint['id']}/deliveries", None),
                               ("delete", f"/api/webhook/self/{endpoint['id']}", None)):
        status, reply = call(client, method, path, other, body)
        assert status == 404 and reply["success"] is False, (method, path, reply)
    status, reply = call(client, "delete", f"/api/webhook/self/{endpoint['id']}", hooks.user.dashboard_headers())
    assert status == 200


@pytest.mark.parametrize("body", [{"url": "ftp://x.y/z"}, {"url": "http://u:p@x.y/"}, {"url": 3}, {},
                                  {"url": "https://x.y/", "events": ["nope"]}, {"url": "https://x.y/", "events": "x"},
                                  {"url": "https://x.y/", "description": "d" * 201}, [1]])
def test_bad_endpoint_bodies_are_400(client: Any, hooks: Any, body: Any) -> None:
    status, reply = call(client, "post", "/api/webhook/self", hooks.user.dashboard_headers(), body)
    assert status == 400 and reply["success"] is False


def test_admin_lists_disables_and_deletes_a_users_endpoints(client: Any, hooks: Any) -> None:
    endpoint = add_endpoint(client, hooks.user, "https://example.com/hook")
    admin = hooks.admin.dashboard_headers()
    base = f"/api/webhook/user/{hooks.user.user_id}"
    status, listing = call(client, "get", base, admin)
    assert status == 200 and [e["id"] for e in listing["data"]] == [endpoint["id"]]
    assert "secret" not in listing["data"][0]
    status, reply = call(client, "put", f"{base}/{endpoint['id']}", admin, {"status": "disabled"})
    assert status == 200 and reply["data"]["status"] == "disabled"
    for headers in (hooks.user.dashboard_headers(), hooks.other.dashboard_headers()):  # not admins
        status, reply = call(client, "get", base, headers)
        assert reply["success"] is False and status in (200, 401, 403)
    status, reply = call(client, "get", "/api/webhook/user/abc", admin)
    assert status == 400
    status, reply = call(client, "delete", f"{base}/{endpoint['id']}", admin)
    assert status == 200 and call(client, "get", base, admin)[1]["data"] == []


def test_the_lambda_handler_reports_an_abandoned_message_as_a_batch_item_failure(client: Any, hooks: Any) -> None:
    """The SQS handler (functions/webhooks.py): a delivered record is done; an abandoned one is reported
    failed, so SQS redelivers it until maxReceiveCount moves it to the dead-letter queue."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from functions import webhooks as handlers
    from tests.engine_support import sqs_event

    receiver = hooks.extra["receiver"]
    receiver.then = 410
    add_endpoint(client, hooks.user, f"{receiver.url}/gone")
    imagine(client, hooks.user)
    [event] = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    reply = handlers.webhook_worker(sqs_event([event], "webhook"), None)
    assert reply == {"batchItemFailures": []}  # the fan-out
    [delivery] = webhook_queue_bodies()
    reply = handlers.webhook_worker(sqs_event([delivery, event], "webhook", ids=["a", "b"]), None)
    assert reply["batchItemFailures"] == [{"itemIdentifier": "a"}]  # abandoned (410); the repeated event is fine
    webhook_queue_bodies()
    with pytest.raises(BatchProcessingError):  # a whole failed batch fails the invocation (every record returns)
        handlers.webhook_worker(sqs_event([delivery, {"kind": "nonsense"}], "webhook", ids=["a", "b"]), None)
    assert len(receiver.received) == 1  # an abandoned message is never sent again


def test_a_delivery_whose_worker_crashed_is_sent_once_its_claim_runs_out(client: Any, hooks: Any) -> None:
    """A worker claimed the attempt and died before settling it (SQS redelivers the record): the redelivery
    waits for the claim's lease instead of dropping the message, then sends it with the same id."""
    from taskcenter.services.webhooks import delivery
    from taskcenter.store.repositories import current

    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/crash")
    imagine(client, hooks.user)
    [event] = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    delivery.handle(event)
    [body] = webhook_queue_bodies()
    assert current().webhooks.claim_attempt(endpoint["id"], body["webhook_id"], 1, 30_000)  # then it crashed
    assert delivery.handle(body) == "claimed elsewhere" and receiver.received == []
    clock.advance(31)
    assert "delivered" in drain() and [r.webhook_id for r in receiver.received] == [body["webhook_id"]]
