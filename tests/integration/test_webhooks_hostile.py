"""Webhooks against hostile or unusual input (docs/webhooks.md), found by hostile testing on 4 Dec 2026: each
test failed before its fix."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from taskcenter.domain import states

from tests.integration import conftest as integration
from tests.integration import test_webhooks as webhook_routes
from tests.integration.test_webhooks import add_endpoint, call, imagine
from tests.webhook_support import drain, webhook_queue_bodies

hooks, v1 = webhook_routes.hooks, integration.v1  # fixtures


@pytest.fixture
def dynamodb_key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB refuses a read whose sort key is over 1,024 bytes (a ValidationException); moto checks key sizes
    on writes only, so its GetItem is made to check them too."""
    from moto.dynamodb.exceptions import HashKeyTooLong, RangeKeyTooLong
    from moto.dynamodb.models.table import Table

    real = Table.get_item

    def get_item(self: Any, hash_key: Any, range_key: Any = None, *args: Any, **kwargs: Any) -> Any:
        if hash_key is not None and hash_key.size() > 2048:
            raise HashKeyTooLong
        if range_key is not None and range_key.size() > 1024:
            raise RangeKeyTooLong
        return real(self, hash_key, range_key, *args, **kwargs)

    monkeypatch.setattr(Table, "get_item", get_item)


def test_a_long_endpoint_or_webhook_id_is_a_404_not_a_500(client: Any, hooks: Any, dynamodb_key_limits: None) -> None:
    endpoint = add_endpoint(client, hooks.user, "https://example.com/hook")
    long_id, headers = "ep_" + "a" * 1100, hooks.user.dashboard_headers()
    for method, path, body in (("put", f"/api/webhook/self/{long_id}", {"status": "disabled"}),
                               ("post", f"/api/webhook/self/{long_id}/rotate", None),
                               ("get", f"/api/webhook/self/{long_id}/deliveries", None),
                               ("delete", f"/api/webhook/self/{long_id}", None),
                               ("post", f"/api/webhook/self/{endpoint['id']}/deliveries/msg_{'a' * 1100}/redeliver",
                                None)):
        status, reply = call(client, method, path, headers, body)
        assert status == 404 and reply["success"] is False, (method, path[:40], status, reply)


def test_a_url_with_port_0_is_refused_at_creation(client: Any, hooks: Any) -> None:
    status, reply = call(client, "post", "/api/webhook/self", hooks.user.dashboard_headers(),
                         {"url": "https://hooks.example.com:0/in"})
    assert status == 400 and "port 0" in reply["message"], reply


@pytest.mark.parametrize("host", ["例え.jp", "пример.рф"])
def test_an_internationalised_host_is_called_by_its_idna_name(client: Any, hooks: Any,
                                                              monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Accepted at creation, then every delivery failed ("cannot be parsed"): the name was never IDNA-encoded.
    Resolution is pinned to 127.0.0.1 (the receiver); the Host header is the xn-- form."""
    receiver = hooks.extra["receiver"]
    ascii_host = host.encode("idna").decode()
    real = socket.getaddrinfo

    def resolve(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        text = name.decode() if isinstance(name, bytes) else name
        return real("127.0.0.1" if text in (host, ascii_host) else name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    sim = hooks.extra["sim"]
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST",
                       f"{sim.host}:{sim.port},{receiver.host_port},{ascii_host}:{receiver.port}")
    add_endpoint(client, hooks.user, f"http://{host}:{receiver.port}/idn", events=["task.submitted"])
    imagine(client, hooks.user)
    drain()
    (delivered,) = receiver.delivered("/idn")
    assert delivered.headers["host"] == f"{ascii_host}:{receiver.port}"


def test_a_v1_tasks_event_names_the_id_the_v1_api_takes(client: Any, v1: Any) -> None:
    """`data.task_id` is what the client's fetch takes: for a Task API v1 task its numeric id (the event said
    `v1_1`, which GET /api/v1/task/{id} refuses)."""
    from taskcenter.services.core.lifecycle import move
    from taskcenter.services.task_api_v1 import task_endpoints
    from taskcenter.store import tasks as task_store

    r = client.http.post("/api/webhook/self", headers=v1.user.dashboard_headers(),
                         body=json.dumps({"url": "https://example.com/hook"}))
    assert r.status_code == 200
    (numeric,) = v1.create({"script_name": "follow", "serials": ["dev1"],
                            "script_config": {"target_usernames": ["someone"]}})
    assert move(task_store.get(task_endpoints.v1_task_key(numeric)), states.IN_PROGRESS, {}) is True
    (event,) = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    data = json.loads(event["body"])["data"]
    assert data["task_id"] == numeric and data["serial"] == "dev1" and data["username"] == ""
    status, reply = v1.call("GET", f"/api/v1/task/{data['task_id']}")
    assert status == 200 and reply["data"]["id"] == numeric, reply


def test_a_notify_hook_that_answers_410_gets_nothing_more_for_its_task(client: Any, hooks: Any) -> None:
    """"A 410 stops that task's hook": a hook has no endpoint to disable, so every later change was POSTed to it
    again (each answered 410, each abandoned)."""
    from tests.integration.test_webhooks import run_to_end

    receiver = hooks.extra["receiver"]
    receiver.then = 410
    task_id = imagine(client, hooks.user, notifyHook=f"{receiver.url}/notify")
    drain()
    assert [json.loads(r.body)["status"] for r in receiver.received] == ["SUBMITTED"]  # answered 410 Gone
    run_to_end(task_id)
    drain()
    assert [json.loads(r.body)["status"] for r in receiver.received] == ["SUBMITTED"]


def test_a_notify_hook_shows_the_image_url_fetch_shows_without_public_base_url(client: Any, hooks: Any) -> None:
    """The hook gets the task "exactly as fetch shows it": with PUBLIC_BASE_URL unset (the default) fetch links
    `{the request's host}/mj/image/{id}`, and the hook got the upstream's own image URL (its address revealed).
    The submit's base URL is kept beside the hook."""
    from tests.integration.test_webhooks import run_to_end

    receiver = hooks.extra["receiver"]
    headers = {**hooks.user.relay_headers(), "Host": "api.example.com"}
    status, reply = call(client, "post", "/mj/submit/imagine", headers,
                         {"prompt": "a cat", "notifyHook": f"{receiver.url}/notify"})
    assert status == 200 and reply["code"] == 1, reply
    task_id = reply["result"]
    run_to_end(task_id)
    drain()
    hook = json.loads(receiver.delivered("/notify")[-1].body)
    status, fetched = call(client, "get", f"/mj/task/{task_id}/fetch", headers)
    assert fetched["imageUrl"] == f"http://api.example.com/mj/image/{task_id}" == hook["imageUrl"], hook


def test_a_second_rotation_within_the_overlap_keeps_the_original_secret_signing(client: Any, hooks: Any) -> None:
    """A double click on rotate dropped the original secret at once: a receiver still on it failed every
    delivery, although its overlap had not ended."""
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/rot", events=["task.submitted"])
    headers = hooks.user.dashboard_headers()
    rotated = [call(client, "post", f"/api/webhook/self/{endpoint['id']}/rotate", headers)[1]["data"]["secret"]
               for _ in range(2)]
    imagine(client, hooks.user)
    drain()
    (got,) = receiver.received
    for secret, signs in ((endpoint["secret"], True), (rotated[1], True), (rotated[0], False)):
        receiver.secrets[:] = [secret]
        assert receiver.verify(got.body, got.headers) is signs, secret[:12]


def test_a_410_with_a_body_past_the_cap_still_disables_the_endpoint(client: Any, hooks: Any) -> None:
    """A hosting platform's "gone" page over WEBHOOK_MAX_RESPONSE_BYTES lost its status: logged without one and
    retried for the whole schedule, the endpoint left enabled."""
    from taskcenter import settings

    receiver = hooks.extra["receiver"]
    receiver.then, receiver.payload = 410, b"<html>" + b"x" * (settings.get().webhook_max_response_bytes + 1)
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/gone", events=["task.submitted"])
    imagine(client, hooks.user)
    drain()
    _, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    row = next(e for e in listing["data"] if e["id"] == endpoint["id"])
    assert len(receiver.received) == 1 and row["status"] == "disabled", (len(receiver.received), row)


def test_a_kms_outage_is_retried_on_the_schedule_and_holds_no_later_event_for_good(
        client: Any, hooks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """KMS down raised to SQS: after its 5 receives the message sat in the DLQ, `pending` for good, with no row
    in the delivery log, and every later event of its task to that endpoint waited behind it (found by hostile
    testing). Now the attempt is logged and retried on the delivery schedule; once KMS is back all arrive."""
    from taskcenter.sealing import SecretNotReadable
    from taskcenter.services.webhooks import delivery, signing_secrets

    from tests.integration.test_webhooks import run_to_end

    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/k")
    receiver.secrets[:] = [endpoint["secret"]]
    task_id = imagine(client, hooks.user)
    (event,) = [b for b in webhook_queue_bodies() if b["kind"] == "event"]
    delivery.handle(event)
    (first,) = webhook_queue_bodies()
    real_keys = signing_secrets.signing_keys

    def kms_down(endpoint: Any) -> list[str]:
        raise SecretNotReadable("KMS ThrottlingException", permanent=False)

    monkeypatch.setattr(signing_secrets, "signing_keys", kms_down)
    assert delivery.handle(first) == "retry"  # not raised to SQS: no receive used up
    _, log = call(client, "get", f"/api/webhook/self/{endpoint['id']}/deliveries", hooks.user.dashboard_headers())
    assert [(a["webhook_id"], a["outcome"]) for a in log["data"]] == [(first["webhook_id"], "retry")]
    monkeypatch.setattr(signing_secrets, "signing_keys", real_keys)  # KMS is back
    run_to_end(task_id)
    drain()
    types = [json.loads(r.body)["type"] for r in receiver.delivered("/k")]
    assert types[0] == "task.submitted" and types[-1] == "task.succeeded" and all(r.verified for r in receiver.received)
