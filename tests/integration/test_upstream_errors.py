"""Upstream errors end to end over the Chalice app (issue 12, items 4, 5 and 7): a URL an upstream gives
that cannot be parsed, a channel whose key is refused (401/403) and a redirect to another origin are the
channel's fault: the next channel is tried, a background dispatch counts the attempt, nothing answers 500,
and no reply, fail_reason or listing shows the upstream's body or the channel's URL, name or id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels, submission
from taskcenter.services.core.auth import authenticate_relay
from taskcenter.store import money
from taskcenter.store.models import Task

from functions.admin import admin_operation
from tests.integration import suno_support
from tests.integration.suno_support import listing, submit
from tests.stub_upstream import Answer, StubUpstream

suno_sim = suno_support.suno_sim  # fixtures

UPSTREAM_BODY = "key sk-chan-77 expired for account suno-prod-eu"  # what the broken upstream says
STUB_NAME = "suno-prod-eu-broken"
BAD_LOCATIONS = ["http://127.0.0.1:99999/x", "http://[::1", "http://127.0.0.1:abc/x"]


@pytest.fixture
def stubs(aws: dict[str, str], suno_sim: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StubUpstream, ...]]:
    """Two stub upstreams (two origins) and the Suno simulator, all three allow-listed."""
    with StubUpstream() as a, StubUpstream() as b:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", ",".join([a.host_port, b.host_port, suno_sim.host_port]))
        channels.clear_cache()
        yield a, b
        channels.clear_cache()


def _world(stub_url: str, *, good_url: str = "", secret: str = "sk-chan-77") -> Any:
    """The seeded users; the broken stub channel first (higher priority), then the good one if any."""
    from tests.support import seed_world

    world = seed_world()
    world.channels["broken"] = admin.create_channel("suno", stub_url, name=STUB_NAME, secret=secret,
                                                    priority=10)["id"]
    if good_url:
        world.channels["good"] = admin.create_channel("suno", good_url, name="suno-good", secret="sim-secret",
                                                      priority=1)["id"]
    channels.clear_cache()
    return world


def _assert_nothing_upstream_shown(text: str, world: Any, stub: StubUpstream) -> None:
    for secret_or_detail in (UPSTREAM_BODY, "sk-chan-77", STUB_NAME, stub.url, stub.host_port,
                             f"channel {world.channels['broken']}", "99999", "[::1"):
        assert secret_or_detail not in text, (secret_or_detail, text)


# ---------------------------------------------------------------- item 4: an unparseable URL from an upstream
@pytest.mark.parametrize("location", BAD_LOCATIONS)
def test_an_unparseable_redirect_fails_over_to_the_next_channel(
        client: Any, stubs: tuple[StubUpstream, ...], suno_sim: Any, location: str) -> None:
    stub, _ = stubs
    stub.routes["/suno/submit/MUSIC"] = Answer(307, {"Location": location})
    world = _world(stub.url, good_url=suno_sim.url)

    status, body, _ = submit(client, world.user)

    assert status == 200 and body["code"] == "success", body  # was: 500, a charged task left NOT_START
    task = Task.get(body["data"])
    assert task.status == states.SUBMITTED and int(task.channel_id) == world.channels["good"]
    assert len(stub.seen) == 1 and len(suno_sim.submits) == 1


def test_an_unparseable_redirect_on_the_only_channel_is_a_clean_502_and_a_counted_background_attempt(
        client: Any, stubs: tuple[StubUpstream, ...]) -> None:
    stub, _ = stubs
    stub.routes["/suno/submit/MUSIC"] = Answer(302, {"Location": "http://127.0.0.1:99999/x"})
    world = _world(stub.url)
    before = int(money.audit_user(world.user.user_id).quota)

    status, body, _ = submit(client, world.user)
    assert status == 502 and body["code"] == "do_request_failed" and body["data"] is None, body
    _assert_nothing_upstream_shown(body["message"], world, stub)
    assert list(Task.scan()) == []  # refused: the held task is withdrawn with its charge (issue 14)
    audit = money.audit_user(world.user.user_id)
    assert int(audit.quota) == before and audit.ok and audit.charges == audit.refunds == 0

    # The background path (retry worker): the attempt is counted and the task backs off for a retry.
    principal = authenticate_relay(f"Bearer {world.user.api_key}")
    spec = suno_support_spec()
    queued = submission.create_tasks(principal, [spec])[0]
    submission.dispatch_to_upstream(queued, client_waiting=False)
    assert queued.status == states.NOT_START and int(queued.submit_attempts) == 1  # was: ValueError, 0


def suno_support_spec() -> submission.TaskSpec:
    from taskcenter.services.suno import relay as suno_relay

    return suno_relay.task_spec("MUSIC", "suno_music", {"prompt": "a song", "mv": "chirp-v3-0"})


def test_mj_image_with_an_unparseable_image_url_is_a_clean_mj_error(
        client: Any, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.suno_support import write_tasks

    monkeypatch.setenv("MJ_FORWARD_IMAGES", "true")
    for n, url in enumerate(["http://cdn.example.com:99999/a.png", "http://[::1/a.png", "http://x:abc/a.png"]):
        (task,) = write_tasks([{"task_id": f"17000000000{n}", "numeric_id": 900 + n, "kind": "mj",
                                "platform": "midjourney", "user_id": 2, "action": "IMAGINE",
                                "channel_id": 1, "quota": 1, "model_name": "mj_imagine", "group": "default",
                                "key_hash": "k", "properties": {}}])
        task.update(actions=[Task.extra.set({"image_url": url})])
        reply = client.http.get(f"/mj/image/{task.task_id}")
        assert reply.status_code == 502, (url, reply.status_code, reply.body)  # was: 500
        body = reply.json_body
        assert set(body) == {"description", "type", "code"} and body["code"] == 5
        assert "cannot be parsed" in body["description"] and url not in body["description"]


def test_admin_base_url_that_cannot_be_parsed_is_invalid_request(aws: dict[str, str]) -> None:
    from taskcenter.domain.errors import BadInput

    for url in ["http://x:99999", "http://[::1", "http://x:abc/", "https://[fec0::1]/", "http://[2002:a00:1::1]"]:
        reply = admin_operation({"op": "create_channel", "type": "suno", "base_url": url}, None)
        assert (reply["ok"], reply["error"], reply["field"]) == (False, "invalid_request", "base_url"), (url, reply)
        with pytest.raises(BadInput):
            admin.create_channel("suno", url)
    cid = admin.create_channel("suno", "https://suno.example.com")["id"]
    reply = admin_operation({"op": "update_channel", "channel_id": cid, "base_url": "http://x:99999"}, None)
    assert (reply["ok"], reply["error"], reply["field"]) == (False, "invalid_request", "base_url"), reply


# ---------------------------------------------------------------- item 5: the channel's key is refused
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_channel_key_fails_over_alarms_and_shows_nothing_of_the_upstream(
        client: Any, stubs: tuple[StubUpstream, ...], suno_sim: Any, status: int,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    stub, _ = stubs
    stub.routes["/suno/submit/MUSIC"] = Answer(status, body={"code": "unauthorized", "message": UPSTREAM_BODY})
    world = _world(stub.url, good_url=suno_sim.url)
    capsys.readouterr()

    ok_status, body, _ = submit(client, world.user)
    assert ok_status == 200 and body["code"] == "success", body  # was: 400 with the upstream's body
    assert int(Task.get(body["data"]).channel_id) == world.channels["good"]
    # The request's EMF blob carries the metric with the dimension the alarm watches (infra/template.py).
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line and "ChannelAuthFailed" in line]
    assert len(emf) == 1 and emf[0]["ChannelAuthFailed"] == [1.0] and emf[0]["service"] == "task-center"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    logged = [r for r in caplog.records if r.getMessage() == "channel credential refused by its upstream"]
    assert [getattr(r, "channel_id", None) for r in logged] == [world.channels["broken"]]  # the operator sees which
    for record in caplog.records:  # no log line carries the secret, though the upstream echoed it
        assert "sk-chan-77" not in str(record.__dict__), record.__dict__


def test_a_refused_key_on_every_channel_shows_our_words_only_in_every_reply(
        client: Any, stubs: tuple[StubUpstream, ...]) -> None:
    stub, _ = stubs
    stub.routes["/suno/submit/MUSIC"] = Answer(401, body={"code": "unauthorized", "message": UPSTREAM_BODY})
    world = _world(stub.url)

    status, body, _ = submit(client, world.user)
    assert status == 502 and body["code"] == "do_request_failed", body
    _assert_nothing_upstream_shown(body["message"], world, stub)
    assert "every channel failed" in body["message"]
    assert list(Task.scan()) == []  # withdrawn: no task, so no fail_reason, fetch or listing row to leak from
    _assert_nothing_upstream_shown(str(listing(client, world.user)[1]), world, stub)


def test_a_refusal_of_the_task_itself_shows_the_status_not_the_body(
        client: Any, stubs: tuple[StubUpstream, ...]) -> None:
    stub, _ = stubs
    stub.routes["/suno/submit/MUSIC"] = Answer(400, body={"code": "error", "message": UPSTREAM_BODY})
    world = _world(stub.url)
    status, body, _ = submit(client, world.user)
    assert status == 400 and body["code"] == "fail_to_fetch_task", body  # new-api: the upstream's status
    assert "HTTP 400" in body["message"]
    _assert_nothing_upstream_shown(body["message"], world, stub)
    stub.routes["/suno/submit/MUSIC"] = Answer(200, body={"code": "error", "message": UPSTREAM_BODY})
    status, body, _ = submit(client, world.user)
    assert status == 500 and body["code"] == "error", body  # new-api: HTTP 500 with the upstream's code
    _assert_nothing_upstream_shown(body["message"], world, stub)


def test_mj_relay_and_v1_show_nothing_of_a_refused_key(client: Any, world: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.simulators.midjourney import MidjourneySimulator
    from tests.integration.v1_support import make_v1_world

    with MidjourneySimulator() as mj:
        mj.config.secret = "the-right-key"
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{mj.host}:{mj.port}")
        cid = admin.create_channel("midjourney", mj.url, name="mj-broken-eu", secret="sk-mj-wrong")["id"]
        channels.clear_cache()
        reply = client.http.post("/mj/submit/imagine", headers={**world.user.relay_headers(),
                                                                "Content-Type": "application/json"},
                                 body=b'{"prompt": "a cat"}')
        assert reply.status_code == 502, reply.body
        body = reply.json_body
        assert set(body) == {"description", "type", "code"}
        for detail in ("mj-api-secret is wrong", "sk-mj-wrong", "mj-broken-eu", mj.url, f"channel {cid}"):
            assert detail not in body["description"], body

    # Task API v1: the host refuses the channel's key (401): retried in the background, then failed with our
    # words; GET shows no upstream text.
    monkeypatch.setenv("SUBMIT_MAX_RETRIES", "1")
    v1 = make_v1_world(world, client, monkeypatch, secret="host-key")  # the channel has no key
    try:
        (task_id,) = v1.create({"serials": ["dev1"], "script_name": "post", "script_config": {
            "content_type": 0, "captions": "hi", "material_list": ["C:/v.mp4"]}})
        for _ in range(3):
            task = Task.get(f"v1_{task_id}", consistent_read=True)
            if task.status != states.NOT_START:
                break
            submission.dispatch_to_upstream(task, client_waiting=False)
        task = Task.get(f"v1_{task_id}", consistent_read=True)
        assert task.status == states.FAILURE and int(task.submit_attempts) >= 1, task.fail_reason  # was: at once
        shown = str(v1.get(task_id))
        for detail in ("bad host secret", "40101", "tm-sim", v1.sim.url, f"channel {v1.channel_id}"):
            assert detail not in shown, shown
    finally:
        v1.sim.stop()


# ---------------------------------------------------------------- item 7: a redirect to another origin
def test_a_redirect_to_another_origin_gets_no_credential_no_prompt_and_is_not_trusted(
        client: Any, stubs: tuple[StubUpstream, ...], suno_sim: Any) -> None:
    a, b = stubs
    a.routes["/suno/submit/MUSIC"] = Answer(307, {"Location": f"{b.url}/suno/submit/MUSIC"})
    b.routes["/suno/submit/MUSIC"] = Answer(200, body={"code": "success", "message": "", "data": "evil-task-id"})
    world = _world(a.url, good_url=suno_sim.url)

    status, body, _ = submit(client, world.user, body={"prompt": "my private prompt"})

    assert status == 200, body
    assert b.seen == []  # was: Authorization: Bearer sk-chan-77 and the prompt, delivered to the other host
    task = Task.get(body["data"])
    assert task.upstream_id != "evil-task-id" and int(task.channel_id) == world.channels["good"]
    assert a.seen[0].headers["authorization"] == "Bearer sk-chan-77"  # the channel's own origin did get it
