"""Results kept on the local stack over HTTP (docs/results.md): a Midjourney image and a Suno song succeed on
the simulators, the event runner's keep worker copies them into the results bucket (moto's S3, created from
template.yaml), and the result URLs clients read redirect to presigned URLs that serve the files byte for
byte, also once the simulators' own URLs have expired.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.simulators import file_bytes
from infra.simulators.midjourney import PNG
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

DEADLINE_S = 90.0


def wait_until(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)  # the poller and the keeper work on their own schedule; the test only watches
    pytest.fail(f"{what} not seen in {DEADLINE_S}s")


def no_redirect_get(url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers={"Accept": "*/*"})
        reply = conn.getresponse()
        return reply.status, dict(reply.headers), reply.read()
    finally:
        conn.close()


def served(url: str) -> bytes:
    """Follow our route's redirect to the presigned URL and download it (no credentials)."""
    status, headers, _ = no_redirect_get(url)
    assert status == 302, (url, status)
    location = headers["Location"]
    assert "X-Amz-Signature=" in location and "/local-resultsbucket/" in location
    with urllib.request.urlopen(location, timeout=15) as reply:
        return bytes(reply.read())


def sim_config(stack: RunningStack, name: str, changes: dict[str, Any]) -> None:
    req = urllib.request.Request(f"{stack.components[name]}/sim/config", data=json.dumps(changes).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200


def kept(stack: RunningStack, monkeypatch: pytest.MonkeyPatch, task_id: str) -> Any:
    stack.use_env(monkeypatch)
    from taskcenter.store.models import Task

    task = Task.get(task_id)
    return task if (task.results or {}).get("state") == "kept" else None


def test_mj_image_kept_and_served_after_the_upstream_url_expired(local_stack: RunningStack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    h = local_stack.demo.relay_headers()
    status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "a fox kept for later"}, headers=h)
    assert status == 200 and reply["code"] == 1, reply
    task_id = reply["result"]
    view = wait_until("MJ success", lambda: (lambda v: v if v[1]["status"] in {"SUCCESS", "FAILURE"} else None)(
        local_stack.get(f"/mj/task/{task_id}/fetch", headers=h)))[1]
    assert view["status"] == "SUCCESS", view
    wait_until("the image kept", lambda: kept(local_stack, monkeypatch, task_id))
    image_url = view["imageUrl"]
    assert image_url == f"{local_stack.api_url}/mj/image/{task_id}"
    assert served(image_url) == PNG
    try:
        sim_config(local_stack, "midjourney-sim", {"images_expired": True})
        assert served(image_url) == PNG  # the upstream's link is dead; the kept copy is not
    finally:
        sim_config(local_stack, "midjourney-sim", {"images_expired": False})


def test_suno_song_kept_and_served_after_the_upstream_urls_expired(local_stack: RunningStack,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    h = local_stack.demo.relay_headers()
    status, reply = local_stack.post("/suno/submit/music", {"prompt": "a song kept for later"}, headers=h)
    assert status == 200 and reply["code"] == "success", reply
    task_id = reply["data"]
    task = wait_until("the song kept", lambda: kept(local_stack, monkeypatch, task_id))
    upstream = {n: clip for n, clip in enumerate(task.data)}
    size = int(json.loads(urllib.request.urlopen(  # the simulator's file size setting
        urllib.request.Request(f"{local_stack.components['suno-sim']}/sim/config", data=b"{}", method="POST",
                               headers={"Content-Type": "application/json"}), timeout=10).read())["data"]["file_bytes"])
    status, body = local_stack.get(f"/suno/fetch/{task_id}", headers=h)
    assert status == 200 and body["data"]["status"] == "SUCCESS"
    clips = body["data"]["data"]
    assert [c["audio_url"] for c in clips] == [f"{local_stack.api_url}/suno/result/{task_id}/{n}.audio"
                                               for n in range(len(clips))]
    try:
        sim_config(local_stack, "suno-sim", {"files_expired": True})
        with pytest.raises(urllib.error.HTTPError) as expired:  # the simulator's own URL is dead now
            urllib.request.urlopen(upstream[0]["audio_url"], timeout=10)
        assert expired.value.code == 403
        for n, clip in enumerate(clips):
            audio_name = upstream[n]["audio_url"].rsplit("/", 1)[1]
            image_name = upstream[n]["image_url"].rsplit("/", 1)[1]
            assert served(clip["audio_url"]) == file_bytes(audio_name, size)
            assert served(clip["image_url"]) == file_bytes(image_name, size // 10)
    finally:
        sim_config(local_stack, "suno-sim", {"files_expired": False})
