"""Doubao Seedance (Volcengine Ark) and Google Veo (Gemini long-running operations) through new-api's
/v1/video/generations, with their adapters against their simulators (moto in-process): SUCCESS, settlement
where the upstream reports the produced length, content through the redirect byte for byte, a failure
refunded once, new-api's platform values."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.providers import veo
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry, User

from infra.simulators.lro_video import ArkSimulator, VeoSimulator, VideoSimConfig
from infra.simulators.sora import asset_bytes
from tests.engine_support import SCHEDULE_EVENT, run_queue
from tests.integration.test_video_newapi_kling import call, run_engine
from tests.integration.test_video_openai import kept_bytes


@pytest.fixture
def sims() -> Iterator[tuple[ArkSimulator, VeoSimulator]]:
    with ArkSimulator(config=VideoSimConfig(result_bytes=150_000)) as ark, \
            VeoSimulator(config=VideoSimConfig(result_bytes=120_000)) as gemini:
        yield ark, gemini


@pytest.fixture
def world(aws: dict[str, str], sims: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from taskcenter.services.core import channels

    from tests.support import seed_world

    ark, gemini = sims
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST",  # Veo's storage origin too (its downloads redirect there)
                       f"{ark.host}:{ark.port},{gemini.host}:{gemini.port},{gemini.host}:{gemini.storage_port}")
    for name, value in {"POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0",
                        "POLL_FAST_WINDOW_SECONDS": "10", "REFUND_GRACE_SECONDS": "30"}.items():
        monkeypatch.setenv(name, value)
    channels.clear_cache()
    yield seed_world(channels={"doubao": ark.url, "gemini": gemini.url})
    channels.clear_cache()


def _download(client: Any, account: Any, task_id: str) -> bytes:
    reply = client.http.get(f"/v1/videos/{task_id}/content", headers=account.relay_headers())
    assert reply.status_code == 302, reply.body
    if "X-Amz-Signature=" in reply.headers["Location"]:
        return kept_bytes(reply.headers["Location"])
    with urllib.request.urlopen(reply.headers["Location"], timeout=10) as asset:
        return asset.read()


def test_seedance_and_veo_to_success_settled_and_downloaded(world, sims, client, frozen_clock) -> None:
    ark, gemini = sims
    user = world.user
    before = int(User.get(user.user_id).quota)
    status, seedance = call(client, "POST", "/v1/video/generations", user,
                            {"model": "doubao-seedance-1-0-pro", "prompt": "sim:seconds=10 a ship",
                             "duration": 5, "size": "720x1280", "image": "https://img.example/first.png"})
    assert status == 200, seedance
    sent = ark.creates[-1]
    assert (sent["duration"], sent["resolution"], sent["ratio"]) == (5, "720p", "9:16")
    assert [c["type"] for c in sent["content"]] == ["image_url", "text"]  # images first, the prompt last
    status, video = call(client, "POST", "/v1/video/generations", user,
                         {"model": "veo-3.1-generate-preview", "prompt": "a glacier", "size": "3840x2160",
                          "seconds": "8"})
    assert status == 200, video
    assert gemini.creates[-1]["parameters"] == {"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9",
                                                "resolution": "4k"}
    # Seedance 720p 0.03 USD a second x 5; Veo 3.1 at 4k 0.60 x 8
    assert int(User.get(user.user_id).quota) == before - 5 * 15_000 - 8 * 300_000

    run_engine((ark, gemini), [seedance["task_id"], video["task_id"]])
    status, body = call(client, "GET", f"/v1/video/generations/{seedance['task_id']}", user)
    assert (body["data"]["status"], body["data"]["platform"], body["data"]["quota"]) == ("SUCCESS", "54", 150_000)
    status, body = call(client, "GET", f"/v1/video/generations/{video['task_id']}", user)
    assert (body["data"]["status"], body["data"]["platform"]) == ("SUCCESS", "24")
    settles = [(e.task_id, e.kind, int(e.amount)) for e in LedgerEntry.query(user.user_id)
               if e.entry.startswith("settle#")]
    assert settles == [(seedance["task_id"], "charge", 75_000)]  # 10 s produced for 5 asked; Veo reports none
    ark_id = task_store.get(seedance["task_id"]).upstream_id.removeprefix("cgt-")
    assert _download(client, user, seedance["task_id"]) == asset_bytes(ark_id, "video", 150_000)
    operation = task_store.get(video["task_id"]).upstream_id.rsplit("/", 1)[1]
    assert _download(client, user, video["task_id"]) == asset_bytes(operation, "video", 120_000)
    assert money.audit_user(user.user_id).ok


def test_failures_refunded_once_and_bad_input_charges_nothing(world, sims, client, frozen_clock) -> None:
    ark, gemini = sims
    user = world.user
    before = int(User.get(user.user_id).quota)
    for body in ({"model": "doubao-seedance-1-0-pro", "prompt": "x", "duration": 30},
                 {"model": "veo-3.0-generate-001", "prompt": "x", "seconds": "7"},
                 {"model": "doubao-seedance-1-0-pro", "prompt": "x", "metadata": {"resolution": "8k"}}):
        status, reply = call(client, "POST", "/v1/video/generations", user, body)
        assert status == 400 and reply["data"] is None, reply
    ids = []
    for model in ("doubao-seedance-1-0-pro", "veo-3.0-generate-001"):
        status, reply = call(client, "POST", "/v1/video/generations", user, {"model": model, "prompt": "sim:fail"})
        assert status == 200, reply
        ids.append(reply["task_id"])
    run_engine((ark, gemini), ids)
    clock.advance(60)
    from functions import jobs

    jobs.reconciler(SCHEDULE_EVENT, None)
    run_queue("refund", jobs.refund_worker)
    refunds = [e.task_id for e in LedgerEntry.query(user.user_id) if e.kind == "refund"]
    assert sorted(refunds) == sorted(ids)  # each once
    assert int(User.get(user.user_id).quota) == before and money.audit_user(user.user_id).ok


def test_veo_operation_states_as_new_api_reads_them() -> None:
    state = veo.operation_to_state("models/veo-3/operations/abc", {"done": True, "response": {"videos": [
        {"uri": "https://files.example/v.mp4"}]}})
    assert state.status == "SUCCESS" and state.data == {"url": "https://files.example/v.mp4"}
    assert veo.operation_to_state("n", {"done": True, "response": {}}).status == "FAILURE"
    assert veo.operation_to_state("n", {"done": False}).status == "IN_PROGRESS"
