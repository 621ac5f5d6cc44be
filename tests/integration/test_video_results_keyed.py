"""Sora's and Veo's results kept (docs/results.md, "Results only the channel may read"), in-process on moto:
their upstreams serve content only with the channel's key, so the result keeper downloads it through the
provider adapter, the key sent to the channel's own origin only. Veo's file download redirects to a second
origin (the simulator's storage server), which must not receive the key. The content route then answers
from the kept copy, also once the upstream's content is gone; until the copy is done the video is not shown
completed and the route answers 409, never a redirect to the upstream's keyed URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter.services.results import keeping
from taskcenter.store import tasks as task_store

from infra.simulators.lro_video import VeoSimulator, VideoSimConfig
from infra.simulators.sora import SoraSimConfig, SoraSimulator, asset_bytes
from tests.integration.test_video_newapi_kling import run_engine as run_engine_with_keeper
from tests.integration.test_video_openai import call, kept_bytes


@pytest.fixture
def sims() -> Iterator[tuple[SoraSimulator, VeoSimulator]]:
    with SoraSimulator(config=SoraSimConfig(step_seconds=(1.0, 2.0), result_bytes=300_000)) as sora, \
            VeoSimulator(config=VideoSimConfig(result_bytes=200_000)) as veo:
        yield sora, veo


@pytest.fixture
def world(aws: dict[str, str], sims: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from taskcenter.services.core import channels

    from tests.support import seed_world

    sora, veo = sims
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", ",".join(
        f"{sim.host}:{port}" for sim, port in ((sora, sora.port), (veo, veo.port), (veo, veo.storage_port))))
    for name, value in {"POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0",
                        "POLL_FAST_WINDOW_SECONDS": "10", "REFUND_GRACE_SECONDS": "30"}.items():
        monkeypatch.setenv(name, value)
    channels.clear_cache()
    yield seed_world(channels={"sora": sora.url, "gemini": veo.url})
    channels.clear_cache()


def run_engine_without_keeper(sims: Any, task_ids: list[str]) -> None:
    from taskcenter import clock
    from taskcenter.domain import states

    from functions import jobs
    from tests.engine_support import SCHEDULE_EVENT, run_queue

    for _ in range(30):
        clock.advance(3)
        for sim in sims:
            sim.advance(3)
        jobs.poll_dispatcher(SCHEDULE_EVENT, None)
        for queue, handler in (("poll", jobs.poll_worker), ("retry", jobs.retry_worker)):
            run_queue(queue, handler)
        if all(task_store.get(t).status in states.TERMINAL for t in task_ids):
            return


def test_sora_video_kept_with_the_key_and_served_from_the_copy_after_the_upstream_expired(
        world, sims, client, frozen_clock) -> None:
    from functions import jobs
    from tests.engine_support import run_queue

    sora, veo = sims
    user = world.user
    status, video, _ = call(client, "POST", "/v1/videos", user, {"prompt": "a paper boat"})
    assert status == 200, video
    run_engine_without_keeper(sims, [video["id"]])
    assert task_store.get(video["id"]).status == "SUCCESS"
    # Succeeded upstream, not copied yet: not "completed" to an SDK, and no redirect to the keyed upstream URL.
    status, shown, _ = call(client, "GET", f"/v1/videos/{video['id']}", user)
    assert (shown["status"], shown["progress"], shown["completed_at"]) == ("in_progress", 99, None)
    status, body, headers = call(client, "GET", f"/v1/videos/{video['id']}/content", user)
    assert status == 409 and body["error"]["code"] == "video_content_pending" and "Location" not in headers

    run_queue("keep", jobs.keep_worker)  # the winner's keep message
    task = task_store.get(video["id"])
    assert task.results["state"] == "kept" and sorted(task.results["files"]) == ["thumbnail", "video"]
    status, shown, _ = call(client, "GET", f"/v1/videos/{video['id']}", user)
    assert (shown["status"], shown["progress"]) == ("completed", 100)

    sora.configure(content_expired=True)  # the upstream's content is gone now
    for variant, size in (("video", 300_000), ("thumbnail", 24 * 1024)):
        status, _, headers = call(client, "GET", f"/v1/videos/{video['id']}/content?variant={variant}", user)
        assert status == 302 and sora.url not in headers["Location"]
        assert kept_bytes(headers["Location"]) == asset_bytes(task.upstream_id, variant, size)


def test_veo_video_kept_with_the_key_which_the_storage_origin_never_sees(world, sims, client, frozen_clock) -> None:
    sora, veo = sims
    user = world.user
    status, video, _ = call(client, "POST", "/v1/video/generations", user,
                            {"model": "veo-3.0-generate-001", "prompt": "a glacier"})
    assert status == 200, video
    run_engine_with_keeper(sims, [video["task_id"]])
    task = task_store.get(video["task_id"])
    assert task.status == "SUCCESS" and task.results["state"] == "kept", task.results
    # The download went to the channel's origin with the key, was redirected to the storage origin, which
    # served it and never saw the key.
    assert veo.storage_view()["requests"] and not any(r["with_key"] for r in veo.storage_view()["requests"])

    veo.configure(files_expired=True)
    status, _, headers = call(client, "GET", f"/v1/videos/{video['task_id']}/content", user)
    assert status == 302 and veo.url not in headers["Location"] and veo.storage_url not in headers["Location"]
    operation = task.upstream_id.rsplit("/", 1)[1]
    assert kept_bytes(headers["Location"]) == asset_bytes(operation, "video", 200_000)


def test_the_key_goes_to_the_channel_origin_only(world, sims) -> None:
    """A result URL the upstream named on another origin is downloaded without the channel's key."""
    from taskcenter.providers.base import ChannelInfo
    from taskcenter.providers.veo import VeoProvider

    sora, veo = sims
    provider = VeoProvider(ChannelInfo(id=1, type="gemini", base_url=veo.url, secret="sim-secret"))
    with provider.open_result(f"{veo.storage_url}/storage/nothing.mp4", max_bytes=1024, total_timeout=10) as reply:
        assert reply.status == 404
    assert veo.storage_view()["requests"] == [{"path": "/storage/nothing.mp4", "with_key": False}]
    with provider.open_result(f"{veo.url}/v1beta/files/0:download?alt=media", max_bytes=1024,
                              total_timeout=10) as reply:
        assert reply.status == 404  # the channel's origin: the key was sent (else 401)


def test_a_copy_whose_channel_is_gone_fails_for_good_and_is_reported(world, sims, client, frozen_clock) -> None:
    from taskcenter.services.core import channels
    from taskcenter.store.models import Channel

    sora, veo = sims
    status, video, _ = call(client, "POST", "/v1/video/generations", world.user,
                            {"model": "veo-3.0-generate-001", "prompt": "a glacier"})
    run_engine_without_keeper(sims, [video["task_id"]])
    Channel.get(int(world.channels["gemini"])).delete()  # gone (the admin's delete is soft: the key would still do)
    channels.clear_cache()
    assert keeping.keep_from_message({"task_id": video["task_id"], "attempt": 1}) == keeping.FAILED
    assert "channel is gone" in task_store.get(video["task_id"]).results["error"]
    status, shown, _ = call(client, "GET", f"/v1/videos/{video['task_id']}", world.user)
    assert shown["status"] == "completed"  # failed for good: no longer pending
    status, body, _ = call(client, "GET", f"/v1/videos/{video['task_id']}/content", world.user)
    assert status == 404


def test_a_copy_that_never_comes_does_not_hold_the_video_back_forever(world, sims, client, frozen_clock) -> None:
    """A keep message never queued (alarmed: ResultsKeepNotQueued): after the keeper's whole retry horizon
    the video is shown completed; its content, never kept, is a 404, not the upstream's keyed URL."""
    from taskcenter import clock, settings
    from taskcenter.services.video import content

    status, video, _ = call(client, "POST", "/v1/videos", world.user, {"prompt": "a paper boat"})
    run_engine_without_keeper(sims, [video["id"]])
    assert call(client, "GET", f"/v1/videos/{video['id']}", world.user)[1]["status"] == "in_progress"
    clock.advance(settings.get().results_copy_attempts * content.KEEP_REDELIVERY_S + 1)
    assert call(client, "GET", f"/v1/videos/{video['id']}", world.user)[1]["status"] == "completed"
    assert call(client, "GET", f"/v1/videos/{video['id']}/content", world.user)[0] == 404
