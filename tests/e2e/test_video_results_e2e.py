"""Sora's and Veo's results kept on the local stack (docs/results.md, "Results only the channel may read"):
their simulators serve content only with the channel's key; a video succeeds, the event runner's keep worker
copies it through the provider adapter into the results bucket (moto's S3), the content route redirects to
a presigned URL that serves it byte for byte, also once the simulator's content has expired. Veo's download
redirects to a second origin (the simulator's storage server), which never receives the key."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.simulators.sora import THUMBNAIL_BYTES, asset_bytes
from tests.e2e.conftest import RunningStack
from tests.e2e.test_results_local_stack import sim_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 120


def _sim(stack: RunningStack, name: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{stack.components[name]}{path}", data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return json.loads(reply.read())


def _until_completed(stack: RunningStack, video_id: str) -> dict[str, Any]:
    """The OpenAI view says `completed` for Sora and Veo once the kept copy is there (docs/video.md)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status, video = stack.get(f"/v1/videos/{video_id}", headers=stack.demo.relay_headers())
        assert status == 200, video
        if video["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return video
        time.sleep(1)  # polling the local stack: bounded by the deadline


def _served(stack: RunningStack, video_id: str, variant: str = "video") -> bytes:
    """Our content route's redirect, followed (without the API key): a presigned URL of the results bucket."""
    api = urlsplit(stack.api_url)
    conn = http.client.HTTPConnection(api.hostname, api.port, timeout=15)
    try:
        conn.request("GET", f"/v1/videos/{video_id}/content?variant={variant}", headers=stack.demo.relay_headers())
        reply = conn.getresponse()
        status, location, body = reply.status, str(reply.getheader("Location")), reply.read()
    finally:
        conn.close()
    assert status == 302, (status, body)
    assert "X-Amz-Signature=" in location and "/local-resultsbucket/" in location, location
    with urllib.request.urlopen(location, timeout=30) as reply:
        return bytes(reply.read())


def _upstream_id(stack: RunningStack, monkeypatch: pytest.MonkeyPatch, task_id: str) -> str:
    stack.use_env(monkeypatch)
    from taskcenter.store import tasks as task_store

    task = task_store.get(task_id)
    assert task is not None and task.results["state"] == "kept", task and task.results
    return str(task.upstream_id)


def test_sora_video_kept_with_the_key_and_served_after_the_upstream_content_expired(
        local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = local_stack
    size = int(_sim(stack, "sora-sim", "/sim/config", {})["config"]["result_bytes"])
    status, video = stack.post("/v1/videos", {"prompt": "a paper boat kept for later", "size": "1280x720"},
                               headers=stack.demo.relay_headers())
    assert status == 200, video
    assert _until_completed(stack, video["id"])["status"] == "completed"
    upstream_id = _upstream_id(stack, monkeypatch, video["id"])
    with pytest.raises(urllib.error.HTTPError) as refused:  # the simulator's content needs the key
        urllib.request.urlopen(f"{stack.components['sora-sim']}/v1/videos/{upstream_id}/content", timeout=10)
    assert refused.value.code == 401
    assert _served(stack, video["id"]) == asset_bytes(upstream_id, "video", size) and size >= 1024 * 1024
    try:
        sim_config(stack, "sora-sim", {"content_expired": True})
        assert _served(stack, video["id"]) == asset_bytes(upstream_id, "video", size)
        assert _served(stack, video["id"], "thumbnail") == asset_bytes(upstream_id, "thumbnail", THUMBNAIL_BYTES)
    finally:
        sim_config(stack, "sora-sim", {"content_expired": False})


def test_veo_video_kept_the_storage_origin_never_sees_the_key_and_served_after_expiry(
        local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = local_stack
    size = int(_sim(stack, "veo-sim", "/sim/config", {})["config"]["result_bytes"])
    status, video = stack.post("/v1/video/generations", {"model": "veo-3.0-generate-001", "prompt": "a glacier"},
                               headers=stack.demo.relay_headers())
    assert status == 200, video
    assert _until_completed(stack, video["task_id"])["status"] == "completed"
    operation = _upstream_id(stack, monkeypatch, video["task_id"]).rsplit("/", 1)[1]
    storage = _sim(stack, "veo-sim", "/sim/storage")["requests"]
    assert [r for r in storage if operation in r["path"]], storage  # the copy was redirected there...
    assert not any(r["with_key"] for r in storage), storage  # ... and the key never went along
    assert _served(stack, video["task_id"]) == asset_bytes(operation, "video", size)
    try:
        sim_config(stack, "veo-sim", {"files_expired": True})
        assert _served(stack, video["task_id"]) == asset_bytes(operation, "video", size)
    finally:
        sim_config(stack, "veo-sim", {"files_expired": False})
