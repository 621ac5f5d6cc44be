"""Relay authentication as new-api's TokenAuth (newapi-relay-wire.md §1; issue 14): every form of the key a
client sends, `Authorization: midjourney-proxy` with `mj-api-secret`, and `sk-KEY-<channel id>` pinning
(admins only; the pinned channel is the one used, with no failover). Each was refused before the fix."""

from __future__ import annotations

from typing import Any

from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels
from taskcenter.store.models import Task, User

from tests.integration import suno_support
from tests.integration.suno_support import call

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

JSON = {"Content-Type": "application/json"}
SONG = {"prompt": "a calm song about the sea"}


def _gateway(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"} and body["error"]["type"] == "new_api_error", body
    return body["error"]


def test_every_key_form_new_api_takes_is_accepted_on_both_relays(client: Any, suno_world: Any) -> None:
    world = suno_world
    key = world.user.api_key
    bare = key.removeprefix("sk-")
    forms = [
        {"Authorization": f"Bearer {key}"}, {"Authorization": f"bearer {key}"}, {"Authorization": key},
        {"Authorization": f"Bearer {bare}"}, {"Authorization": bare},  # no sk- prefix
        {"mj-api-secret": key}, {"mj-api-secret": bare},
        {"Authorization": "midjourney-proxy", "mj-api-secret": key},  # midjourney-proxy clients
        {"Authorization": "midjourney-proxy", "mj-api-secret": f"Bearer {bare}"},
        # new-api strips `Bearer ` before it compares (one-api forks send this pair to their MJ upstream)
        {"Authorization": "Bearer midjourney-proxy", "mj-api-secret": key},
        {"Authorization": f"Bearer {key}", "mj-api-secret": "sk-wrong"},  # Authorization wins
    ]
    for headers in forms:
        # Unknown ids: the relay's own "not found" proves the key was accepted (401 otherwise).
        status, body, _ = call(client, "GET", "/suno/fetch/task_unknown", headers)
        assert (status, body.get("code")) == (400, "task_not_exist"), (headers, body)
        status, body, _ = call(client, "GET", "/mj/task/1234567890123/fetch", headers)
        assert status in (400, 404) and body.get("code") == 4, (headers, body)
    for headers in ({"Authorization": "midjourney-proxy"}, {"Authorization": "Bearer sk-" + "x" * 48},
                    {"Authorization": f"Bearer {world.user.access_token}"}, {"mj-api-secret": "midjourney-proxy"},
                    {"Authorization": "sk-wrong", "mj-api-secret": key}):
        for path in ("/suno/fetch/task_unknown", "/mj/task/1/fetch"):
            status, body, _ = call(client, "GET", path, headers)
            assert status == 401 and _gateway(body) == {"message": "Invalid token", "type": "new_api_error",
                                                        "code": ""}, (path, headers)
    admin.update_user(world.other.user_id, status=2)
    status, body, _ = call(client, "GET", "/suno/fetch/x", {"Authorization": world.other.api_key})
    assert status == 403 and _gateway(body)["message"] == "User has been banned"


def test_an_admin_key_with_a_channel_id_uses_that_channel_only(client: Any, suno_world: Any, suno_sim: Any,
                                                               monkeypatch: Any) -> None:
    world = suno_world
    first = world.channels["suno"]
    preferred = admin.create_channel("suno", suno_sim.url, secret="sim-secret", priority=100)["id"]
    channels.clear_cache()
    pinned = {**JSON, "Authorization": f"Bearer {world.admin.api_key}-{first}"}

    status, body, _ = call(client, "POST", "/suno/submit/music", pinned, SONG)
    assert status == 200, body
    assert int(Task.get(body["data"]).channel_id) == first  # not the higher-priority channel
    status, body, _ = call(client, "POST", "/suno/submit/music", {**JSON, "Authorization": world.admin.api_key},
                           SONG)
    assert int(Task.get(body["data"]).channel_id) == preferred  # unpinned: selection as usual

    # A pinned request never fails over (new-api): the pinned channel's 500 is the answer (its status, as
    # new-api relays it), never charged, no task left.
    monkeypatch.setenv("UPSTREAM_CONNECT_RETRIES", "0")
    before = int(User.get(world.admin.user_id).quota)
    tasks_before = len(list(Task.scan()))
    suno_sim.reset()
    suno_sim.script_submits(500)
    status, body, _ = call(client, "POST", "/suno/submit/music", pinned, SONG)
    assert (status, body["code"]) == (500, "fail_to_fetch_task") and len(suno_sim.submits) == 1, body
    assert int(User.get(world.admin.user_id).quota) == before and len(list(Task.scan())) == tasks_before


def test_pinning_is_refused_before_anything_is_written(client: Any, suno_world: Any, suno_sim: Any) -> None:
    from tests.support import snapshot_tables

    world = suno_world
    mj_channel = admin.create_channel("midjourney", suno_sim.url, secret="x")["id"]  # the type is what counts
    disabled = admin.create_channel("suno", suno_sim.url, secret="sim-secret")["id"]
    admin.disable_channel(disabled)
    channels.clear_cache()
    before = snapshot_tables()
    cases = [
        (f"{world.user.api_key}-{world.channels['suno']}", 403, "普通用户不支持指定渠道"),  # common users may not pin
        (f"{world.admin.api_key}-999", 400, "Invalid channel ID"),
        (f"{world.admin.api_key}-abc", 400, "Invalid channel ID"),
        (f"{world.admin.api_key}-", 400, "Invalid channel ID"),
        (f"{world.admin.api_key}-{mj_channel}", 400, "Invalid channel ID"),  # not a Suno channel
        (f"{world.admin.api_key}-{disabled}", 403, "This channel has been disabled"),
    ]
    for key, want_status, want_message in cases:
        status, body, _ = call(client, "POST", "/suno/submit/music", {**JSON, "Authorization": f"Bearer {key}"},
                               SONG)
        assert status == want_status and _gateway(body)["message"] == want_message, (key, body)
    assert suno_sim.submits == [] and snapshot_tables() == before
