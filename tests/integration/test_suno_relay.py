"""Suno relay over the Chalice app against the simulated upstream: submit, fetch, errors, failover,
all-channels-failed refund, idempotent resubmission, and the task in both dashboard listings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry, Task, User

from tests.integration import suno_support
from tests.integration.suno_support import call, listing, submit

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

MUSIC_PRICE = 50_000  # 0.1 USD x 500,000
LYRICS_PRICE = 5_000


def _quota(user_id: int) -> int:
    return int(User.get(user_id).quota)


def _ledger(user_id: int) -> list[str]:
    return sorted(e.kind for e in LedgerEntry.query(user_id) if e.kind != "credit")


def test_submit_fetch_and_both_listings(client: Any, suno_world: Any, suno_sim: Any) -> None:
    world = suno_world
    before = _quota(world.user.user_id)

    status, body, _ = submit(client, world.user, "Music", {"prompt": "a calm song", "tags": "ambient",
                                                           "make_instrumental": False, "unknown_field": 1})
    assert status == 200, body
    assert set(body) == {"code", "message", "data"} and body["code"] == "success"
    assert body["message"] == suno_support.SUBMIT_MESSAGE  # the upstream's, verbatim (new-api)
    music_id = body["data"]
    assert music_id.startswith("task_") and len(music_id) == 37
    upstream = suno_sim.submits[-1]
    assert upstream.action == "MUSIC" and upstream.authorization == "Bearer sim-secret"
    assert upstream.body == {"prompt": "a calm song", "tags": "ambient", "make_instrumental": False,
                             "mv": "chirp-v3-0"}  # unknown fields are not forwarded; mv defaults as new-api

    status, body, _ = submit(client, world.user, "LYRICS", {"prompt": "the sea"})
    assert status == 200, body
    lyrics_id = body["data"]
    assert _quota(world.user.user_id) == before - MUSIC_PRICE - LYRICS_PRICE
    assert _ledger(world.user.user_id) == ["charge", "charge"]
    task = Task.get(music_id)
    assert task.status == states.SUBMITTED and task.upstream_id == upstream.upstream_id
    assert int(task.channel_id) == world.channels["suno"] and int(task.quota) == MUSIC_PRICE

    # GET /suno/fetch/{id}: new-api's TaskDto.
    status, body, _ = call(client, "GET", f"/suno/fetch/{music_id}", world.user.relay_headers())
    assert status == 200 and body["code"] == "success"
    assert set(body["data"]) == suno_support.TASK_DTO_KEYS - {"result_url", "username"}  # both empty: omitted
    assert body["data"]["channel_id"] == world.channels["suno"] and body["data"]["group"] == "default"
    assert body["data"]["task_id"] == music_id and body["data"]["action"] == "MUSIC"
    assert body["data"]["status"] == "SUBMITTED" and body["data"]["data"] is None

    # POST /suno/fetch: the caller's tasks among the ids, in order; unknown and others' ids dropped.
    _, other, _ = submit(client, world.other, "music")
    status, body, _ = call(client, "POST", "/suno/fetch", world.user.relay_headers(),
                           {"ids": [lyrics_id, "task_unknown", other["data"], music_id]})
    assert status == 200 and [t["task_id"] for t in body["data"]] == [lyrics_id, music_id]
    assert call(client, "POST", "/suno/fetch", world.user.relay_headers(), {"ids": []})[1]["data"] == []
    assert call(client, "POST", "/suno/fetch", world.user.relay_headers(), {})[1]["data"] == []

    for missing in (other["data"], "task_nope"):
        status, body, _ = call(client, "GET", f"/suno/fetch/{missing}", world.user.relay_headers())
        assert status == 400 and body == {"code": "task_not_exist", "message": "task_not_exist", "data": None}

    # The task is in the user's listing and the admin listing, with its charge; never in another user's.
    status, body = listing(client, world.user)
    assert status == 200 and body["data"]["total"] == 2
    item = next(i for i in body["data"]["items"] if i["task_id"] == music_id)
    assert item["quota"] == MUSIC_PRICE and item["platform"] == "suno" and item["action"] == "MUSIC"
    assert item["properties"] == {"input": "a calm song", "model": "suno_music", "mv": "chirp-v3-0",
                                  "tags": "ambient", "make_instrumental": False, "upstream_model_name": "suno_music",
                                  "origin_model_name": "suno_music"}  # no "_submit"
    assert item["channel_id"] == 0  # the user listing shows no channel (new-api zeroes it)
    status, body = listing(client, world.admin, f"task_id={music_id}", admin=True)
    assert status == 200 and body["data"]["total"] == 1
    assert body["data"]["items"][0]["quota"] == MUSIC_PRICE
    assert body["data"]["items"][0]["channel_id"] == world.channels["suno"]
    assert body["data"]["items"][0]["username"] == world.user.username  # the owner, as new-api's admin listing
    assert "username" not in item  # the user listing does not repeat it
    status, body = listing(client, world.other, f"task_id={music_id}")
    assert status == 200 and body["data"]["items"] == [] and body["data"]["total"] == 0


def test_bad_requests_are_4xx_in_the_suno_envelope_and_write_nothing(client: Any, suno_world: Any,
                                                                      suno_sim: Any) -> None:
    from tests.support import snapshot_tables

    world = suno_world
    before = snapshot_tables()
    cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
        ("video", world.user.relay_headers(), b'{"prompt": "x"}', 400, "invalid_request"),
        ("lyrics", world.user.relay_headers(), b'{"title": "no prompt"}', 400, "invalid_request"),
        ("lyrics", world.user.relay_headers(), b'{"prompt": "   "}', 400, "invalid_request"),
        ("music", world.user.relay_headers(), b"not json", 400, "invalid_request"),
        ("music", world.user.relay_headers(), b'["prompt"]', 400, "invalid_request"),
        ("music", world.user.relay_headers(), b"", 400, "invalid_request"),
        ("music", world.user.relay_headers(), b'{"prompt": 5}', 400, "invalid_request"),
        ("music", world.user.relay_headers(), b'{"make_instrumental": "yes"}', 400, "invalid_request"),
        ("music", world.user.relay_headers(), b'{"continue_at": true}', 400, "invalid_request"),
        ("music", {**world.user.relay_headers(), "Idempotency-Key": "x" * 300}, b'{"prompt": "x"}', 400,
         "invalid_request"),
    ]
    for action, headers, raw, want_status, want_code in cases:
        status, body, _ = call(client, "POST", f"/suno/submit/{action}", headers, raw=raw)
        assert (status, body["code"]) == (want_status, want_code), (action, raw, body)
        assert body["data"] is None and body["message"]
    for headers in ({"Content-Type": "application/json"}, {"Authorization": f"Bearer {world.user.access_token}"},
                    {"Authorization": "Bearer sk-forged"}):  # the gateway's own shape (newapi-relay-wire.md §1.2)
        status, body, _ = call(client, "POST", "/suno/submit/music", headers, raw=b'{"prompt": "x"}')
        assert status == 401 and body == {"error": {"message": "Invalid token", "type": "new_api_error", "code": ""}}
    assert "invalid_action" in call(client, "POST", "/suno/submit/video", world.user.relay_headers(),
                                    raw=b"{}")[1]["message"]
    assert "prompt_empty" in call(client, "POST", "/suno/submit/lyrics", world.user.relay_headers(),
                                  raw=b"{}")[1]["message"]
    for raw in (b'{"ids": "task_x"}', b'{"ids": [{}]}', b"[1]", b"{bad"):
        status, body, _ = call(client, "POST", "/suno/fetch", world.user.relay_headers(), raw=raw)
        assert status == 400 and body["code"] == "invalid_request" and body["data"] is None
    assert call(client, "GET", "/suno/fetch/task_x", {})[0] == 401
    assert suno_sim.submits == []
    assert snapshot_tables() == before

    # No quota: 403, nothing charged, no task. No channel: 503, nothing written either.
    poor = admin.create_user("poor", quota=10)
    key = admin.issue_credential(poor["id"], "key")
    status, body, _ = call(client, "POST", "/suno/submit/music", {"Authorization": f"Bearer {key['token']}"},
                           {"prompt": "x"})
    assert status == 403 and body["code"] == "insufficient_user_quota" and body["data"] is None  # new-api's code
    assert list(Task.user_time.query(f"u#{poor['id']}#task")) == []  # type: ignore[attr-defined]
    assert _ledger(poor["id"]) == [] and _quota(poor["id"]) == 10
    admin.disable_channel(world.channels["suno"])
    channels.clear_cache()
    before = snapshot_tables()
    status, body, _ = submit(client, world.user)
    assert status == 503 and body["error"]["code"] == "model_not_found"  # the distributor's, in the gateway shape
    assert snapshot_tables() == before and suno_sim.submits == []


def test_failover_on_429_5xx_timeout_and_connection_errors_never_on_4xx(
        client: Any, suno_world: Any, suno_sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = suno_world
    first = world.channels["suno"]
    admin.update_channel(first, priority=10)
    second = admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=5)["id"]
    admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=20, status=2)  # disabled: skipped
    admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=30, models=["suno_lyrics"])  # not music
    channels.clear_cache()
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("UPSTREAM_CONNECT_RETRIES", "0")
    before = _quota(world.user.user_id)

    for failure in (429, 500, 503, "timeout", "drop"):
        suno_sim.reset()
        suno_sim.script_submits(failure)
        status, body, _ = submit(client, world.user)
        assert status == 200, (failure, body)
        assert [s.status for s in suno_sim.submits] == [failure if isinstance(failure, int) else 0, 200]
        assert int(Task.get(body["data"]).channel_id) == second, failure

    # A 4xx refusal is not failed over: one upstream call, nothing charged, no task left.
    suno_sim.reset()
    suno_sim.script_submits(400)
    charged = _quota(world.user.user_id)
    tasks_before = len(list(Task.scan()))
    status, body, _ = submit(client, world.user)
    assert status == 400 and body["code"] == "fail_to_fetch_task" and body["data"] is None  # upstream's status
    assert json.loads(body["message"]) == {"code": "simulated_error", "message": "scripted answer 400",
                                           "data": None}  # new-api: the message is the upstream's body
    assert len(suno_sim.submits) == 1
    assert len(list(Task.scan())) == tasks_before
    assert _quota(world.user.user_id) == charged
    assert _quota(world.user.user_id) == before - 5 * MUSIC_PRICE
    assert money.audit_user(world.user.user_id).ok

    # Among channels of the highest priority, weight decides (weight 0 is only a last resort).
    light = admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=50, weight=0)["id"]
    heavy = admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=50, weight=1000)["id"]
    channels.clear_cache()
    suno_sim.reset()
    picked = [int(Task.get(submit(client, world.user)[1]["data"]).channel_id) for _ in range(4)]
    assert picked == [heavy] * 4 and light not in picked


def test_every_channel_failing_answers_the_last_upstream_and_charges_nothing(
        client: Any, suno_world: Any, suno_sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = suno_world
    admin.create_channel("suno", suno_sim.url, secret="sim-secret")
    admin.create_channel("suno", suno_sim.url, secret="sim-secret")
    channels.clear_cache()
    before = _quota(world.user.user_id)

    suno_sim.script_submits(500, 429, 502, 500)
    status, body, _ = submit(client, world.user, headers={"Idempotency-Key": "k-fail"})
    # new-api: the last upstream's status, fail_to_fetch_task, its body as the message (newapi-relay-wire.md 2.3)
    assert (status, body["code"], body["data"]) == (502, "fail_to_fetch_task", None), body
    assert json.loads(body["message"])["message"] == "scripted answer 502"
    assert len(suno_sim.submits) == 3  # SUBMIT_CHANNEL_ATTEMPTS defaults to 3
    assert list(Task.scan()) == []  # withdrawn with its charge: nothing to list or fetch
    assert _quota(world.user.user_id) == before
    assert _ledger(world.user.user_id) == []
    assert money.audit_user(world.user.user_id).ok
    status, page = listing(client, world.user, "status=FAILURE")
    assert page["data"]["items"] == [] and page["data"]["total"] == 0

    # The number of attempts is configurable; a failed first request leaves its Idempotency-Key reusable.
    monkeypatch.setenv("SUBMIT_CHANNEL_ATTEMPTS", "1")
    suno_sim.reset()
    suno_sim.script_submits(429)
    status, body, _ = submit(client, world.user)
    assert (status, body["message"]) == (429, "当前分组上游负载已饱和，请稍后再试") and len(suno_sim.submits) == 1
    suno_sim.reset()
    status, body, _ = submit(client, world.user, headers={"Idempotency-Key": "k-fail"})
    assert status == 200 and Task.get(body["data"]).status == states.SUBMITTED


def test_idempotency_key_returns_the_first_task_and_charges_once(client: Any, suno_world: Any,
                                                                  suno_sim: Any) -> None:
    world = suno_world
    before = _quota(world.user.user_id)
    headers = {"Idempotency-Key": "order-42"}
    status, first, first_headers = submit(client, world.user, headers=headers)
    assert status == 200 and "Idempotent-Replayed" not in first_headers
    status, again, again_headers = submit(client, world.user, headers=headers)
    assert status == 200 and again == first and again_headers.get("Idempotent-Replayed") == "true"
    assert len(suno_sim.submits) == 1
    assert _quota(world.user.user_id) == before - MUSIC_PRICE and _ledger(world.user.user_id) == ["charge"]

    # The same key with another request is refused; another key, or another user's same key, is a new task.
    status, body, _ = submit(client, world.user, body={"prompt": "something else"}, headers=headers)
    assert status == 409 and body["code"] == "idempotency_key_reused" and body["data"] is None
    status, other_key, _ = submit(client, world.user, headers={"Idempotency-Key": "order-43"})
    assert status == 200 and other_key["data"] != first["data"]
    status, other_user, _ = submit(client, world.other, headers=headers)
    assert status == 200 and other_user["data"] not in (first["data"], other_key["data"])
    assert _quota(world.user.user_id) == before - 2 * MUSIC_PRICE
    assert len(suno_sim.submits) == 3
