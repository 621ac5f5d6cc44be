"""The official OpenAI Python SDK (`openai` from PyPI) drives the local stack's Videos API unchanged:
create (JSON and with an image file), retrieve, list (the SDK's own pagination), download_content (through
the redirect, byte for byte), remix, delete, and a failed generation refunded once (visible in the
balance). The upstream is the stack's Sora simulator (infra/local/components/sora_sim.py)."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from infra.simulators.sora import asset_bytes
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

DEADLINE_S = 120


def _client(stack: RunningStack) -> openai.OpenAI:
    return openai.OpenAI(api_key=stack.demo.api_key, base_url=f"{stack.api_url}/v1", max_retries=0, timeout=30)


def _quota(stack: RunningStack) -> int:
    status, body = stack.get("/api/user/self", headers=stack.demo.dashboard_headers())
    assert status == 200, body
    return int(body["data"]["quota"])


def _until_done(client: openai.OpenAI, video_id: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed") or time.monotonic() > deadline:
            return video
        time.sleep(1)  # polling the local stack: bounded by the deadline


def _upstream_id(stack: RunningStack, video_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    stack.use_env(monkeypatch)
    from taskcenter.store import tasks as task_store

    task = task_store.get(video_id)
    assert task is not None
    return str(task.upstream_id)


def test_the_openai_sdk_drives_the_videos_api(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = local_stack
    assert any("runner" in name for name in stack.components), stack.components  # the engine drives the videos
    assert any(c["type"] == "sora" for c in stack.channels), stack.channels
    client = _client(stack)
    before = _quota(stack)

    video = client.videos.create(model="sora-2", prompt="a paper boat on a river", seconds="4", size="1280x720")
    assert (video.object, video.status, video.model, video.seconds, video.size) == \
        ("video", "queued", "sora-2", "4", "1280x720")
    assert _quota(stack) == before - 4 * 50_000  # 0.10 USD a second, charged at submission
    photo = b"\x89PNG" + bytes(range(256)) * 8_000  # a 2 MB phone photo, over HTTP (once refused: 256 KB cap)
    with_image = client.videos.create(prompt="a fox in the snow", input_reference=("fox.png", photo, "image/png"))
    assert with_image.status == "queued"

    done = _until_done(client, video.id)
    assert done.status == "completed" and done.progress == 100, done
    ids = [v.id for v in client.videos.list(limit=1)]  # auto-pagination: one video per page, every page
    assert video.id in ids and with_image.id in ids
    mine = {video.id, with_image.id}  # other tests of the session may have videos too
    assert [v.id for v in client.videos.list(limit=10, order="asc") if v.id in mine] == [video.id, with_image.id]

    content = client.videos.download_content(video.id)  # follows our redirect to the asset
    upstream_id = _upstream_id(stack, video.id, monkeypatch)
    body = content.read()
    assert len(body) >= 1024 * 1024 and body == asset_bytes(upstream_id, "video", len(body))  # several MB
    thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
    assert thumbnail == asset_bytes(upstream_id, "thumbnail", len(thumbnail)) and thumbnail

    remixed = client.videos.remix(video.id, prompt="the same boat at night")
    assert remixed.remixed_from_video_id == video.id and remixed.status == "queued"
    assert _until_done(client, remixed.id).status == "completed"

    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(prompt="x", seconds=5)  # type: ignore[arg-type] - OpenAI wants "4", "8" or "12"
    assert refused.value.status_code == 400

    _until_done(client, with_image.id)
    settled = _quota(stack)
    failing = client.videos.create(prompt="sim:fail a storm at sea")
    assert _quota(stack) == settled - 4 * 50_000
    failed = _until_done(client, failing.id)
    assert failed.status == "failed" and failed.error is not None and failed.error.message
    deadline = time.monotonic() + DEADLINE_S
    while _quota(stack) != settled and time.monotonic() < deadline:
        time.sleep(1)  # the refund runs on the refund queue: bounded by the deadline
    assert _quota(stack) == settled  # refunded: the balance is back where it was
    from taskcenter.store import money
    from taskcenter.store.models import LedgerEntry

    entries = [e for e in LedgerEntry.query(stack.demo.user_id, consistent_read=True) if e.task_id == failing.id]
    assert sorted(e.kind for e in entries) == ["charge", "refund"]  # once each
    assert money.audit_user(stack.demo.user_id).ok


@pytest.mark.parametrize(("model", "seconds", "size"), [("kling-v1", "5", "1280x720"),
                                                         ("veo-3.0-generate-001", "8", "1080x1920")])
def test_the_openai_sdk_drives_the_other_platforms(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch,
                                                   model: str, seconds: str, size: str) -> None:
    """/v1/videos serves every configured video model (docs/video.md, "Every platform through /v1/videos"):
    Kling's and Veo's simulators behind the SDK's create, retrieve and download_content."""
    stack = local_stack
    assert {"kling", "gemini"} <= {c["type"] for c in stack.channels}, stack.channels
    client = _client(stack)
    before = _quota(stack)
    video = client.videos.create(model=model, prompt="a kite over the dunes", seconds=seconds,  # type: ignore[arg-type]
                                 size=size)  # type: ignore[arg-type] - the SDK's types list Sora's values only
    assert (video.object, video.model, video.seconds, video.size) == ("video", model, seconds, size)
    assert video.status in ("queued", "in_progress")  # Veo's operation runs from its creation
    assert _quota(stack) < before  # charged at submission, at the platform's price
    done = _until_done(client, video.id)
    assert (done.status, done.progress) == ("completed", 100), done
    assert client.videos.retrieve(video.id).status == "completed"

    body = client.videos.download_content(video.id).read()  # follows our redirect
    upstream = _upstream_id(stack, video.id, monkeypatch)
    asset_id = upstream.split(":", 1)[1] if model.startswith("kling-") else upstream.rsplit("/", 1)[1]
    assert len(body) >= 1024 * 1024 and body == asset_bytes(asset_id, "video", len(body))
