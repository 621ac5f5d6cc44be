"""Results kept (docs/results.md), in-process on moto: an MJ task that succeeds queues one keep message, the
keep worker streams its image from the simulated upstream into the results bucket, /mj/image/{id} then
redirects to a presigned URL of the copy, also after the upstream's URL expired; a Suno song's audio and
image likewise, with fetch pointing at our result route. Copies that must not or cannot happen (a private
address, a file over the cap, an expired URL, an upstream that keeps failing) are recorded on the task as
failed for good, never lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from taskcenter import clock, config
from taskcenter.domain import states
from taskcenter.services.core import channels
from taskcenter.services.jobs import polling as engine
from taskcenter.services.results import keeping, serving
from taskcenter.store import result_objects
from taskcenter.store.models import Task

from infra.simulators import file_bytes
from infra.simulators.midjourney import PNG, MidjourneySimulator, SimConfig
from infra.simulators.suno import SunoSimConfig, SunoSimulator
from tests.engine_support import sqs_event

BASE = "https://tc.example.com"


@pytest.fixture
def sims(world: Any, frozen_clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    mj = MidjourneySimulator(config=SimConfig(step_seconds=10), now_ms=clock.now_ms).start()
    suno = SunoSimulator(config=SunoSimConfig(step_seconds=(0.0, 0.0, 0.0), file_bytes=3 * 1024 * 1024)).start()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{mj.host}:{mj.port},{suno.host}:{suno.port}")
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    from taskcenter.services.admin import operations as admin

    world.channels["midjourney"] = admin.create_channel("midjourney", mj.url, name="mj", secret="sim-secret")["id"]
    world.channels["suno"] = admin.create_channel("suno", suno.url, name="suno", secret="sim-secret")["id"]
    channels.clear_cache()
    world.extra.update(mj=mj, suno=suno)
    yield world
    mj.stop()
    suno.stop()
    channels.clear_cache()


def post(client: Any, path: str, body: Any, headers: dict[str, str]) -> Any:
    r = client.http.post(path, headers=headers, body=json.dumps(body))
    assert r.status_code == 200, r.body
    return json.loads(r.body)


def poll_to_end(task_id: str, step_s: int = 10) -> Task:
    for _ in range(8):
        clock.advance(step_s)
        task = Task.get(task_id)
        engine.poll_batch(engine.PollMessage(int(task.channel_id), [task_id]))
        task = Task.get(task_id)
        if task.status in states.TERMINAL:
            return task
    raise AssertionError(f"task {task_id} did not finish")


def keep_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    reply = sqs.receive_message(QueueUrl=config.queue_url("keep"), MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in reply.get("Messages", [])]


def mj_success(client: Any, sims: Any, prompt: str = "a red fox") -> Task:
    reply = post(client, "/mj/submit/imagine", {"prompt": prompt}, sims.user.relay_headers())
    task = poll_to_end(reply["result"])
    assert task.status == states.SUCCESS
    return task


def test_mj_image_kept_and_served_from_the_copy_after_the_upstream_url_expired(client: Any, sims: Any) -> None:
    task = mj_success(client, sims)
    assert keep_messages() == [{"task_id": task.task_id, "attempt": 1}]  # one, from the winner of the move

    assert keeping.keep_from_message(json.dumps({"task_id": task.task_id, "attempt": 1})) == keeping.KEPT
    task = Task.get(task.task_id)
    entry = task.results["files"]["image"]
    assert task.results["state"] == "kept" and entry["size"] == len(PNG) and entry["type"] == "image/png"
    assert result_objects.current().read(entry["key"]) == PNG

    sims.extra["mj"].config.images_expired = True  # the upstream's link is dead from now on
    r = client.http.get(f"/mj/image/{task.task_id}", headers={"Accept": "*/*"})
    assert r.status_code == 302, r.body
    location = r.headers["Location"]
    assert f"/{config.results_bucket()}/" in location or location.startswith(f"https://{config.results_bucket()}.")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    assert serving.presigned_result(task, "image") is not None
    # A duplicate delivery copies nothing again (the upstream is expired: a copy would fail).
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.KEPT


def test_suno_song_audio_and_image_kept_streamed_and_fetch_points_at_the_kept_copies(client: Any,
                                                                                     sims: Any) -> None:
    h = sims.user.relay_headers()
    task_id = post(client, "/suno/submit/music", {"prompt": "a song about foxes", "mv": "chirp-v3-5"}, h)["data"]
    task = poll_to_end(task_id, step_s=1)
    assert task.status == states.SUCCESS
    assert keeping.keep_from_message({"task_id": task_id, "attempt": 1}) == keeping.KEPT
    task = Task.get(task_id)
    files = task.results["files"]
    assert sorted(files) == ["0.audio", "0.image", "1.audio", "1.image"]
    clip = task.data[0]
    audio_name = clip["audio_url"].rsplit("/", 1)[1]
    stored = result_objects.current().read(files["0.audio"]["key"])
    assert stored == file_bytes(audio_name, 3 * 1024 * 1024) and files["0.audio"]["type"] == "audio/mpeg"
    # 3 MiB in 256 KiB reads: streamed, and the upload was one S3 object written from the stream.
    head = boto3.client("s3").head_object(Bucket=config.results_bucket(), Key=files["0.audio"]["key"])
    assert head["ContentLength"] == 3 * 1024 * 1024

    sims.extra["suno"].configure(files_expired=True)
    r = client.http.get(f"/suno/fetch/{task_id}", headers=h)
    data = json.loads(r.body)["data"]["data"]
    assert data[0]["audio_url"] == f"{BASE}/suno/result/{task_id}/0.audio"
    assert data[1]["image_url"] == f"{BASE}/suno/result/{task_id}/1.image"
    assert data[0]["title"] == clip["title"]  # the rest of the clip unchanged
    r = client.http.get("/api/task/self?platform=suno", headers=sims.user.dashboard_headers())
    listed = next(i for i in json.loads(r.body)["data"]["items"] if i["task_id"] == task_id)
    assert listed["data"][0]["audio_url"] == f"{BASE}/suno/result/{task_id}/0.audio"  # the dashboard's too
    r = client.http.get(f"/suno/result/{task_id}/0.audio")
    assert r.status_code == 302 and "X-Amz-Signature=" in r.headers["Location"]
    assert client.http.get(f"/suno/result/{task_id}/9.audio").status_code == 404
    assert client.http.get("/suno/result/task_nope/0.audio").status_code == 404


def test_a_large_file_is_uploaded_in_parts(sims: Any) -> None:
    """Over one part (8 MiB): a multipart upload (the ETag of a multipart object ends in -<parts>)."""
    suno = sims.extra["suno"]
    suno.configure(file_bytes=20 * 1024 * 1024)
    stored = keeping.copy_file(f"{suno.url}/files/big-0.mp3", "test/big")
    assert stored["size"] == 20 * 1024 * 1024
    head = boto3.client("s3").head_object(Bucket=config.results_bucket(), Key="test/big")
    assert head["ETag"].strip('"').endswith("-3")
    assert result_objects.current().read("test/big") == file_bytes("big-0.mp3", 20 * 1024 * 1024)


def test_private_address_refused_and_recorded_as_failed_for_good(client: Any, sims: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    task = mj_success(client, sims)
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "")  # the simulator is on 127.0.0.1: a loopback address now
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.FAILED
    task = Task.get(task.task_id)
    assert task.results["state"] == "failed" and "loopback" in task.results["error"]
    assert task.results["files"] == {}
    r = client.http.get(f"/mj/image/{task.task_id}", headers={"Accept": "*/*"})
    assert r.status_code == 403  # not kept: the proxy answers, and refuses the private address too


def test_size_cap_and_expired_url_fail_for_good(client: Any, sims: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    task = mj_success(client, sims)
    monkeypatch.setenv("RESULTS_MAX_BYTES", "1024")
    sims.extra["suno"].configure(file_bytes=4096)
    with pytest.raises(keeping.download.TooLarge):
        keeping.copy_file(f"{sims.extra['suno'].url}/files/x-0.mp3", "test/too-large")
    assert result_objects.current().head("test/too-large") is None
    monkeypatch.delenv("RESULTS_MAX_BYTES")

    sims.extra["mj"].config.images_expired = True  # expired before the keeper ran: a 403 will not change
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.FAILED
    assert "HTTP 403" in Task.get(task.task_id).results["error"]


def test_a_transient_failure_is_retried_then_failed_for_good_on_the_last_delivery(
        client: Any, sims: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    task = mj_success(client, sims)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise keeping.http.UpstreamTimeout("took too long", public="the upstream took longer than 1s")

    monkeypatch.setattr(keeping.download, "download", broken)
    with pytest.raises(keeping.http.UpstreamTimeout):  # redelivered by SQS
        keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}, receive_count=1)
    assert Task.get(task.task_id).results["state"] == "partial"
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}, receive_count=4) == keeping.FAILED
    assert "took longer" in Task.get(task.task_id).results["error"]


def test_keep_worker_handler_runs_the_queue_with_partial_batch_failures(client: Any, sims: Any) -> None:
    """The Lambda handler on the keep queue, as Lambda calls it: a succeeded task is kept; a malformed
    message is reported failed (redelivered, then the dead-letter queue), not dropped."""
    from functions import jobs

    task = mj_success(client, sims)
    event = sqs_event([{"task_id": task.task_id, "attempt": 1}, {"no": "task"}], "keep")
    response = jobs.keep_worker(event, None)
    assert response["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    assert Task.get(task.task_id).results["state"] == "kept"
