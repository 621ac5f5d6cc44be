"""The Suno relay's wire as new-api's (newapi-relay-wire.md §2; issue 14): the full TaskDto on fetch, the
continuation `task_id` forwarded, the upstream's message relayed, new-api's codes and statuses for quota
errors and upstream refusals. Each failed before the fix."""

from __future__ import annotations

from typing import Any

from taskcenter.store import money
from taskcenter.store.models import Credential, LedgerEntry, Task, User

from tests.integration import suno_support
from tests.integration.suno_support import TASK_DTO_KEYS, call, submit

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world


def test_continuation_task_id_reaches_the_upstream_verbatim_and_the_reply_relays_its_message(
        client: Any, suno_world: Any, suno_sim: Any) -> None:
    world = suno_world
    status, first, headers = submit(client, world.user)
    assert status == 200 and first["message"] == suno_support.SUBMIT_MESSAGE
    assert headers.get("X-New-Api-Other-Ratios") == "{}"
    body = {"prompt": "the second verse", "task_id": first["data"], "continue_clip_id": "clip-1", "continue_at": 30.5}
    status, reply, _ = submit(client, world.user, body=body)
    assert status == 200, reply
    assert suno_sim.submits[-1].body == {**body, "mv": "chirp-v3-0"}  # our public id, untranslated (as new-api)
    assert call(client, "POST", "/suno/submit/music", world.user.relay_headers(),
                {"task_id": 5})[0] == 400  # wrong JSON type: invalid_request
    # new-api forwards a string only when non-empty, continue_at when non-zero (newapi-relay-wire.md 2.1)
    status, reply, _ = submit(client, world.user, body={"prompt": "a calm sea", "title": "", "tags": "",
                                                         "continue_at": 0, "continue_clip_id": ""})
    assert status == 200 and suno_sim.submits[-1].body == {"prompt": "a calm sea", "mv": "chirp-v3-0"}, reply


def test_fetch_items_are_the_full_task_dto(client: Any, suno_world: Any, suno_sim: Any) -> None:
    world = suno_world
    task_id = submit(client, world.user)[1]["data"]
    suno_sim.finish_all()
    from taskcenter.services.jobs import polling as engine

    engine.poll_batch(engine.PollMessage(world.channels["suno"], [task_id]))
    for path, method, payload in ((f"/suno/fetch/{task_id}", "GET", None),
                                  ("/suno/fetch", "POST", {"ids": [task_id], "action": "MUSIC"})):
        status, body, _ = call(client, method, path, world.user.relay_headers(), payload)
        item = body["data"] if method == "GET" else body["data"][0]
        assert status == 200 and set(item) == TASK_DTO_KEYS - {"result_url", "username"}, item
        task = Task.get(task_id)
        assert item["id"] == int(task.id) and item["user_id"] == world.user.user_id and item["platform"] == "suno"
        assert item["group"] == "default" and item["channel_id"] == world.channels["suno"]
        assert item["quota"] == int(task.quota) > 0 and item["status"] == "SUCCESS" and item["progress"] == "100%"
        assert item["created_at"] > 0 and item["updated_at"] >= item["created_at"]
        assert item["properties"]["input"] == "a calm song about the sea"
        assert item["properties"]["origin_model_name"] == "suno_music"
        assert isinstance(item["data"], list) and item["data"][0]["audio_url"]  # the clips the dashboard plays


def test_quota_errors_use_new_apis_codes_and_charge_nothing(client: Any, suno_world: Any) -> None:
    from taskcenter.services.admin import operations as admin

    from tests.support import make_account

    poor_key = make_account("thrifty", key_quota=10)  # the wallet could pay, the key cannot
    status, body, _ = call(client, "POST", "/suno/submit/music", poor_key.relay_headers(), {"prompt": "x"})
    assert (status, body["code"], body["data"]) == (403, "pre_consume_token_quota_failed", None)
    broke = admin.create_user("broke", quota=10)
    key = admin.issue_credential(broke["id"], "key")["token"]
    status, body, _ = call(client, "POST", "/suno/submit/music", {"Authorization": key}, {"prompt": "x"})
    assert (status, body["code"]) == (403, "insufficient_user_quota")
    assert [e.kind for e in LedgerEntry.query(broke["id"]) if e.kind != "credit"] == []


def test_an_upstream_refusal_is_http_500_with_the_upstreams_code_and_never_charged(
        client: Any, suno_world: Any, suno_sim: Any) -> None:
    world = suno_world
    before = int(User.get(world.user.user_id).quota)
    key_before = int(Credential.get(world.user.key_hash).remaining_quota)
    status, body, _ = submit(client, world.user, body={"prompt": "sim:refuse this"})
    assert (status, body["code"], body["data"]) == (500, "prompt_refused", None)  # the upstream's code
    assert "the prompt breaks" not in body["message"] and "refunded" not in body["message"]  # our words
    assert len(suno_sim.submits) == 1  # a refusal is not failed over
    assert int(User.get(world.user.user_id).quota) == before
    assert int(Credential.get(world.user.key_hash).remaining_quota) == key_before
    assert money.audit_user(world.user.user_id).ok
    assert list(Task.scan()) == []  # the held task is withdrawn with its charge (issue 14)
    assert [e.kind for e in LedgerEntry.query(world.user.user_id) if e.kind != "credit"] == []
