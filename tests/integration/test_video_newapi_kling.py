"""new-api's video routes (/v1/video/generations, the Kling-native routes) over the engine, with the Kling
adapter (JWT from access key + secret key) against the Kling simulator (moto in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.providers import kling
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry, User

from infra.simulators.kling import KlingSimConfig, KlingSimulator
from infra.simulators.sora import SoraSimConfig, SoraSimulator, asset_bytes
from tests.engine_support import SCHEDULE_EVENT, run_queue

KLING_STD = 14_000  # 0.028 USD a second


@pytest.fixture
def sims() -> Iterator[tuple[KlingSimulator, SoraSimulator]]:
    with KlingSimulator(config=KlingSimConfig(result_bytes=200_000)) as k, \
            SoraSimulator(config=SoraSimConfig(result_bytes=100_000)) as s:
        yield k, s


@pytest.fixture
def video_world(aws: dict[str, str], sims: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    from tests.support import seed_world

    k, s = sims
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{k.host}:{k.port},{s.host}:{s.port}")
    for name, value in {"POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0",
                        "POLL_FAST_WINDOW_SECONDS": "10", "REFUND_GRACE_SECONDS": "30"}.items():
        monkeypatch.setenv(name, value)
    channels.clear_cache()
    world = seed_world(channels={"sora": s.url})
    key = f"sim-ak|{KlingSimConfig().secret_key}"
    world.channels["kling"] = admin.create_channel("kling", k.url, name="kling-sim", secret=key)["id"]
    yield world
    channels.clear_cache()


def call(client: Any, method: str, path: str, account: Any, body: Any = None) -> tuple[int, Any]:
    headers = {**account.relay_headers(), "Content-Type": "application/json", "Host": "api.example.com"}
    payload = json.dumps(body).encode() if body is not None else b""
    reply = client.http.request(method, path, headers=headers, body=payload)
    return reply.status_code, json.loads(reply.body) if reply.body else None


def run_engine(sims: Any, task_ids: list[str]) -> None:
    from functions import jobs

    for _ in range(30):
        clock.advance(3)
        for sim in sims:
            sim.advance(3)
        jobs.poll_dispatcher(SCHEDULE_EVENT, None)
        for queue, handler in (("poll", jobs.poll_worker), ("retry", jobs.retry_worker),
                               ("refund", jobs.refund_worker), ("keep", jobs.keep_worker)):
            run_queue(queue, handler)
        if all(task_store.get(t).status in states.TERMINAL for t in task_ids):
            return


def test_kling_token_is_the_documented_jwt() -> None:
    import jwt

    secret = "s" * 32
    token = kling.token("ak", secret, now=1_800_000_000)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}) == \
        {"iss": "ak", "exp": 1_800_000_000 + 1800, "nbf": 1_800_000_000 - 5}


def test_kling_native_and_generations_routes_to_success_with_settlement(video_world, sims, client,
                                                                        frozen_clock) -> None:
    k, s = sims
    user = video_world.user
    before = int(User.get(user.user_id).quota)
    status, native = call(client, "POST", "/kling/v1/videos/text2video", user,
                          {"model_name": "kling-v1", "prompt": "sim:seconds=10 a red kite", "duration": "5",
                           "callback_url": "https://elsewhere.example/hook"})
    assert status == 200 and native["id"] == native["task_id"] and native["status"] == "queued", native
    assert "callback_url" not in k.creates[-1]  # a client's callback never reaches the upstream
    assert (k.creates[-1]["model_name"], k.creates[-1]["duration"]) == ("kling-v1", "5")
    status, generic = call(client, "POST", "/v1/video/generations", user,
                           {"model": "kling-v1", "prompt": "a boat", "image": "https://img.example/a.png",
                            "size": "1280x720", "metadata": json.dumps({"mode": "pro"})})
    assert status == 200, generic
    assert (k.creates[-1]["action"], k.creates[-1]["mode"], k.creates[-1]["aspect_ratio"]) == \
        ("image2video", "pro", "16:9")
    status, sora = call(client, "POST", "/v1/video/generations", user, {"model": "sora-2", "prompt": "a duck",
                                                                       "duration": 8})
    assert status == 200 and sora["task_id"] == sora["id"] and sora["seconds"] == "8", sora
    assert int(User.get(user.user_id).quota) == before - 5 * KLING_STD - 5 * 24_500 - 8 * 50_000

    run_engine((k, s), [native["task_id"], generic["task_id"], sora["task_id"]])
    status, body = call(client, "GET", f"/kling/v1/videos/text2video/{native['task_id']}", user)
    assert status == 200 and body["code"] == "success" and body["message"] == ""
    dto = body["data"]
    assert (dto["task_id"], dto["platform"], dto["status"], dto["progress"]) == \
        (native["task_id"], "50", "SUCCESS", "100%")
    assert dto["result_url"] == f"http://api.example.com/v1/videos/{native['task_id']}/content"  # absolute, as new-api
    assert dto["quota"] == 10 * KLING_STD  # produced 10 s for 5 requested: settled once
    settles = [e for e in LedgerEntry.query(user.user_id) if e.entry.startswith("settle#")]
    assert [(e.task_id, int(e.amount)) for e in settles] == [(native["task_id"], 5 * KLING_STD)]
    status, body = call(client, "GET", f"/v1/video/generations/{sora['task_id']}", user)
    assert body["data"]["platform"] == "55" and body["data"]["status"] == "SUCCESS"

    # content through our route: a redirect to the kept copy (the engine's run included the keeper), byte for byte
    reply = client.http.get(f"/v1/videos/{native['task_id']}/content", headers=user.relay_headers())
    assert reply.status_code == 302
    kling_id = task_store.get(native["task_id"]).upstream_id.split(":", 1)[1]
    from tests.integration.test_video_openai import kept_bytes

    assert kept_bytes(reply.headers["Location"]) == asset_bytes(kling_id, "video", 200_000)
    assert money.audit_user(user.user_id).ok


def test_not_found_bad_input_and_refunds_in_new_apis_envelope(video_world, sims, client, frozen_clock) -> None:
    k, s = sims
    user = video_world.user
    before = int(User.get(user.user_id).quota)
    for path in ("/v1/video/generations/task_nope", "/kling/v1/videos/text2video/task_nope"):
        assert call(client, "GET", path, user) == (400, {"code": "task_not_exist", "message": "task_not_exist",
                                                        "data": None})
    for body, code in (({"prompt": "x"}, "missing_model"), ({"model": "kling-v1", "prompt": "x", "duration": 7},
                                                            "invalid_request"),
                       ({"model": "kling-v1", "prompt": "x", "seconds": "-1"}, "invalid_seconds"),
                       ({"model": "kling-v1", "prompt": " "}, "invalid_request"),
                       ({"model": "mystery-1", "prompt": "x"}, "model_not_found")):
        status, reply = call(client, "POST", "/v1/video/generations", user, body)
        assert (status, reply["code"], reply["data"]) == (400, code, None), (body, reply)
    status, reply = call(client, "POST", "/kling/v1/videos/image2video", user, {"prompt": "x"})
    assert status == 400
    assert int(User.get(user.user_id).quota) == before  # nothing charged for any of these

    status, failing = call(client, "POST", "/kling/v1/videos/text2video", user, {"prompt": "sim:fail a storm"})
    assert status == 200
    status, refused = call(client, "POST", "/kling/v1/videos/text2video", user, {"prompt": "sim:reject this"})
    assert status == 400 and refused["code"] == "upstream_rejected"
    run_engine((k, s), [failing["task_id"]])
    clock.advance(60)
    from functions import jobs

    jobs.reconciler(SCHEDULE_EVENT, None)
    run_queue("refund", jobs.refund_worker)
    refunds = [e for e in LedgerEntry.query(user.user_id) if e.kind == "refund"]
    assert [e.task_id for e in refunds] == [failing["task_id"]]  # the refusal was never charged (issue 14)
    assert int(User.get(user.user_id).quota) == before and money.audit_user(user.user_id).ok
    status, body = call(client, "GET", f"/v1/video/generations/{failing['task_id']}", user)
    assert body["data"]["status"] == "FAILURE" and "result_url" not in body["data"]
    assert call(client, "GET", f"/v1/video/generations/{failing['task_id']}", video_world.other)[0] == 400


def test_a_wrong_kling_key_fails_over_and_never_reaches_a_success(video_world, sims, client) -> None:
    from taskcenter.services.admin import operations as admin

    before = int(User.get(video_world.user.user_id).quota)
    admin.update_channel(video_world.channels["kling"], secret=f"sim-ak|{'w' * 32}")
    status, reply = call(client, "POST", "/kling/v1/videos/text2video", video_world.user, {"prompt": "a kite"})
    assert (status, reply["code"]) == (502, "upstream_unavailable"), reply  # 401 upstream: the channel's fault
    assert int(User.get(video_world.user.user_id).quota) == before  # refunded in the same request


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/videos?limit=%C2%B2", None),  # "²": int() would raise (a 500), found by the fuzzer
    ("GET", "/v1/videos?limit=%D9%A3", None),  # "٣": int() would silently read 3
    ("POST", "/v1/video/generations", {"model": "kling-v1", "prompt": "x", "duration": "\u00b2"}),
    ("POST", "/v1/video/generations", {"model": "doubao-seedance-1", "prompt": "x", "metadata": {"duration": "٣"}}),
])
def test_numbers_in_unicode_digits_are_a_400(video_world, client, method, path, body) -> None:
    status, reply = call(client, method, path, video_world.user, body)
    assert status == 400, reply


def test_a_kling_video_is_kept_in_the_results_bucket_and_served_from_it_after_the_upstream_is_gone(
        video_world, sims, client, frozen_clock) -> None:
    """The result keeper copies a succeeded Kling video (its public URL) into the results bucket; the content
    route then redirects to a presigned URL of the copy, byte for byte, also once the upstream is gone."""
    from taskcenter.services.results import keeping
    from taskcenter.store import result_objects

    k, s = sims
    user = video_world.user
    status, native = call(client, "POST", "/kling/v1/videos/text2video", user,
                          {"model_name": "kling-v1", "prompt": "a blue kite", "duration": "5"})
    assert status == 200, native
    run_engine((k, s), [native["task_id"]])
    task = task_store.get(native["task_id"])
    assert task.status == states.SUCCESS
    kling_id = task.upstream_id.split(":", 1)[1]
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.KEPT
    entry = task_store.get(task.task_id).results["files"]["video"]
    assert result_objects.current().read(entry["key"]) == asset_bytes(kling_id, "video", 200_000)

    k.stop()  # the upstream's URL is dead from now on
    reply = client.http.get(f"/v1/videos/{task.task_id}/content", headers=user.relay_headers())
    assert reply.status_code == 302
    location = reply.headers["Location"]
    assert "X-Amz-Signature=" in location and k.url not in location


def test_a_video_made_on_new_apis_route_shows_its_requested_size_on_the_openai_surface(video_world, sims,
                                                                                       client) -> None:
    """`size` is the requested WxH (video-apis.md): a Kling video made through /v1/video/generations showed its
    price tier ("std") on /v1/videos (found by hostile testing)."""
    status, made = call(client, "POST", "/v1/video/generations", video_world.user,
                        {"model": "kling-v1", "prompt": "a kite", "size": "1280x720"})
    assert status == 200, made
    status, video = call(client, "GET", f"/v1/videos/{made['task_id']}", video_world.user)
    assert (status, video["size"]) == (200, "1280x720"), video
