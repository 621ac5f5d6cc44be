"""An upstream's non-2xx submit reply, answered as new-api answers it (newapi-relay-wire.md 2.3 and 3.3), with
the secrets guard (providers/relayable.py; docs/compatibility.md, "Upstream error replies").

- MJ: a JSON body is relayed with the upstream's status; without a JSON body, new-api's 400 code 5
  `unmarshal_response_body_failed`; a body naming the channel's key or an internal address: our words, the
  upstream's status and numeric code kept.
- Suno: the upstream's status, `fail_to_fetch_task`, the upstream's body as the message (our words when it is
  not safe to relay; new-api's fixed text for a 429).
- A 401/403 (the channel's own key refused) is never relayed: the client's key is fine.

Each fails on 9fc717d, where these were our own 400/502 (MJ: a 4xx JSON body came back as HTTP 200).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels
from taskcenter.store.models import LedgerEntry, Task

from tests.integration.suno_support import submit as suno_submit
from tests.integration.test_mj_relay import post
from tests.stub_upstream import Answer, StubUpstream

SECRET = "sk-chan-non2xx-77"


@pytest.fixture
def stub(world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[StubUpstream]:
    with StubUpstream() as upstream:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", upstream.host_port)
        for kind in ("midjourney", "suno"):
            world.channels[kind] = admin.create_channel(kind, upstream.url, name=f"{kind}-stub", secret=SECRET)["id"]
        channels.clear_cache()
        yield upstream
        channels.clear_cache()


def mj_answers(client: Any, world: Any, stub: StubUpstream, answer: Answer) -> tuple[int, Any]:
    stub.routes["/mj/submit/imagine"] = answer
    return post(client, "/mj/submit/imagine", {"prompt": "a fox"}, world.user.relay_headers())


def nothing_charged(world: Any) -> bool:
    return list(Task.scan()) == [] and [e for e in LedgerEntry.query(world.user.user_id) if e.kind != "credit"] == []


@pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
def test_mj_non_2xx_json_body_is_relayed_with_its_status(client: Any, world: Any, stub: StubUpstream,
                                                         status: int) -> None:
    body = {"code": 4, "description": "参数错误: prompt", "result": None, "properties": {"promptEn": "a fox"}}
    assert mj_answers(client, world, stub, Answer(status, body=body)) == (status, body)
    assert nothing_charged(world)


def test_mj_non_2xx_without_json_is_new_apis_400_code_5(client: Any, world: Any, stub: StubUpstream) -> None:
    status, reply = mj_answers(client, world, stub, Answer(502, {"Content-Type": "text/html"}, b"<h1>Bad gateway</h1>"))
    assert (status, reply["code"], reply["description"].strip()) == (400, 5, "unmarshal_response_body_failed")
    assert nothing_charged(world)


@pytest.mark.parametrize("leak", [SECRET, "http://10.0.3.7:8080/mj", "10.0.3.7", "mj-worker-3.internal", "fd00::1:2"])
def test_mj_non_2xx_body_naming_the_key_or_an_internal_address_is_not_relayed(
        client: Any, world: Any, stub: StubUpstream, leak: str) -> None:
    status, reply = mj_answers(client, world, stub, Answer(500, body={"code": 9, "description": f"failed at {leak}"}))
    assert (status, reply) == (500, {"code": 9, "description": "the upstream answered HTTP 500", "result": None,
                                     "properties": {}})
    assert leak not in json.dumps(reply) and stub.host_port not in json.dumps(reply)


def test_a_refused_channel_key_is_not_relayed(client: Any, world: Any, stub: StubUpstream) -> None:
    status, reply = mj_answers(client, world, stub, Answer(401, body={"code": 4, "description": "bad key"}))
    assert status == 502 and reply["code"] == 5 and "bad key" not in json.dumps(reply)
    stub.routes["/suno/submit/MUSIC"] = Answer(403, body={"code": "forbidden", "message": "bad key"})
    status, body, _ = suno_submit(client, world.user)
    assert (status, body["code"]) == (502, "do_request_failed") and "bad key" not in body["message"]


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_suno_non_2xx_is_its_status_fail_to_fetch_task_and_its_body(client: Any, world: Any, stub: StubUpstream,
                                                                  status: int) -> None:
    upstream = {"code": "invalid_mv", "message": "mv chirp-x is not served", "data": None}
    stub.routes["/suno/submit/MUSIC"] = Answer(status, body=upstream)
    got, body, _ = suno_submit(client, world.user)
    assert (got, body["code"], body["data"]) == (status, "fail_to_fetch_task", None), body
    assert json.loads(body["message"]) == upstream  # new-api: message = the upstream's body
    assert nothing_charged(world)


def test_suno_429_is_new_apis_busy_text(client: Any, world: Any, stub: StubUpstream) -> None:
    stub.routes["/suno/submit/MUSIC"] = Answer(429, body={"code": "rate_limited", "message": "slow down"})
    got, body, _ = suno_submit(client, world.user)
    assert (got, body["code"], body["message"]) == (429, "fail_to_fetch_task", "当前分组上游负载已饱和，请稍后再试")


@pytest.mark.parametrize("leak", [SECRET, "https://suno-internal.example/v1", "192.168.4.20", "db.svc"])
def test_suno_non_2xx_body_naming_the_key_or_an_internal_address_is_our_words(
        client: Any, world: Any, stub: StubUpstream, leak: str) -> None:
    stub.routes["/suno/submit/MUSIC"] = Answer(400, body={"code": "bad", "message": f"see {leak}"})
    got, body, _ = suno_submit(client, world.user)
    assert (got, body["code"]) == (400, "fail_to_fetch_task")
    assert leak not in body["message"] and stub.host_port not in body["message"] and "HTTP 400" in body["message"]
