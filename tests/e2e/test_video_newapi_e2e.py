"""End to end on the local stack: new-api's video routes and the Kling-native routes against the Kling and
Sora simulators: submit, poll to SUCCESS, the content downloaded through the redirect byte for byte, a
failure refunded once, and both dashboards listing the tasks with new-api's platform values."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from infra.simulators.sora import asset_bytes
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

DEADLINE_S = 120


def _until_done(stack: RunningStack, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status, body = stack.get(path, headers=stack.demo.relay_headers())
        assert status == 200, body
        if body["data"]["status"] in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
            return body["data"]
        time.sleep(1)  # polling the local stack: bounded by the deadline


def _quota(stack: RunningStack) -> int:
    return int(stack.get("/api/user/self", headers=stack.demo.dashboard_headers())[1]["data"]["quota"])


def test_kling_and_generations_routes_end_to_end(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = local_stack
    assert any("runner" in name for name in stack.components), stack.components  # the engine drives the videos
    assert {"kling", "sora"} <= {c["type"] for c in stack.channels}, stack.channels
    relay = stack.demo.relay_headers()
    status, kling = stack.post("/kling/v1/videos/text2video", {"model_name": "kling-v1", "prompt": "a red kite"},
                               headers=relay)
    assert status == 200 and kling["status"] == "queued", kling
    status, sora = stack.post("/v1/video/generations", {"model": "sora-2", "prompt": "a duck", "duration": "4"},
                              headers=relay)
    assert status == 200 and sora["task_id"] == sora["id"], sora

    done = _until_done(stack, f"/kling/v1/videos/text2video/{kling['task_id']}")
    assert (done["status"], done["platform"], done["progress"]) == ("SUCCESS", "50", "100%"), done
    assert done["result_url"].endswith(f"/v1/videos/{kling['task_id']}/content")
    stack.use_env(monkeypatch)
    from taskcenter.store import tasks as task_store

    kling_id = task_store.get(kling["task_id"]).upstream_id.split(":", 1)[1]
    location = _location(stack, f"/v1/videos/{kling['task_id']}/content", relay)
    with urllib.request.urlopen(location, timeout=30) as asset:
        body = asset.read()
    assert len(body) >= 1024 * 1024 and body == asset_bytes(kling_id, "video", len(body))

    sora_done = _until_done(stack, f"/v1/video/generations/{sora['task_id']}")
    assert (sora_done["status"], sora_done["platform"]) == ("SUCCESS", "55")
    status, listing = stack.get("/api/task/self?p=1&page_size=50&platform=50", headers=stack.demo.dashboard_headers())
    assert kling["task_id"] in [i["task_id"] for i in listing["data"]["items"]]
    assert all(i["platform"] == "50" for i in listing["data"]["items"])
    status, listing = stack.get("/api/task/?p=1&page_size=50&platform=55", headers=stack.admin.dashboard_headers())
    assert sora["task_id"] in [i["task_id"] for i in listing["data"]["items"]]

    before = _quota(stack)
    status, failing = stack.post("/kling/v1/videos/text2video", {"prompt": "sim:fail a storm"}, headers=relay)
    assert status == 200 and _quota(stack) < before
    assert _until_done(stack, f"/v1/video/generations/{failing['task_id']}")["status"] == "FAILURE"
    deadline = time.monotonic() + DEADLINE_S
    while _quota(stack) != before and time.monotonic() < deadline:
        time.sleep(1)  # the refund runs on the refund queue: bounded by the deadline
    assert _quota(stack) == before
    from taskcenter.store import money
    from taskcenter.store.models import LedgerEntry

    entries = [e.kind for e in LedgerEntry.query(stack.demo.user_id, consistent_read=True)
               if e.task_id == failing["task_id"]]
    assert sorted(entries) == ["charge", "refund"] and money.audit_user(stack.demo.user_id).ok


def _location(stack: RunningStack, path: str, headers: dict[str, str]) -> str:
    """The redirect's Location, without following it. A 409 (Sora's and Veo's content while the keeper is
    still copying it: docs/video.md, "Where results live") is waited out, within the deadline."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(stack.api_url)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
        try:
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            reply.read()
            status, location = reply.status, reply.getheader("Location")
        finally:
            conn.close()
        if status != 409 or time.monotonic() > deadline:
            assert status == 302, status
            return str(location)
        time.sleep(1)  # the keeper copies on its own schedule: bounded by the deadline


@pytest.mark.parametrize(("model", "platform"), [("doubao-seedance-1-0-pro", "54"), ("veo-3.0-generate-001", "24")])
def test_seedance_and_veo_end_to_end(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch, model: str,
                                     platform: str) -> None:
    stack = local_stack
    assert any("runner" in name for name in stack.components), stack.components  # the engine drives the videos
    relay = stack.demo.relay_headers()
    status, video = stack.post("/v1/video/generations", {"model": model, "prompt": "a lighthouse at dawn"},
                               headers=relay)
    assert status == 200, video
    done = _until_done(stack, f"/v1/video/generations/{video['task_id']}")
    assert (done["status"], done["platform"]) == ("SUCCESS", platform), done
    stack.use_env(monkeypatch)
    from taskcenter.store import tasks as task_store

    upstream = task_store.get(video["task_id"]).upstream_id
    asset_id = upstream.removeprefix("cgt-") if platform == "54" else upstream.rsplit("/", 1)[1]
    with urllib.request.urlopen(_location(stack, f"/v1/videos/{video['task_id']}/content", relay),
                                timeout=30) as asset:
        body = asset.read()
    assert len(body) >= 1024 * 1024 and body == asset_bytes(asset_id, "video", len(body))
