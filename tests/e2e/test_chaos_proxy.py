"""The chaos component (infra/local/components/chaos.py): off unless LOCAL_CHAOS=1; when on, a proxy in front of
each simulator channel (seed base_url replaced), a second suno channel, and faults injected as configured."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.local.components import chaos
from infra.local.context import ChannelSeed, StackContext


class Upstream:
    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                body = json.dumps({"code": "success", "data": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def proxy_for(upstream: Upstream, **settings: Any) -> chaos.ChaosProxy:
    return chaos.ChaosProxy("sim", upstream.url, chaos.ChaosSettings(**settings), random.Random(1),
                            threading.Lock(), []).start()


def test_faults_as_configured_and_counted() -> None:
    upstream = Upstream()
    failing = proxy_for(upstream, fail_rate=1.0, garbage_rate=0.0, timeout_rate=0.0)
    statuses = {get(f"{failing.url}/suno/fetch/x")[0] for _ in range(20)}
    assert statuses == {503, 429} and upstream.hits == []  # never reached the simulator
    assert get(f"{failing.url}/images/1.png")[0] == 200 and upstream.hits == ["/images/1.png"]  # pass-through
    garbage = proxy_for(upstream, fail_rate=0.0, garbage_rate=1.0, timeout_rate=0.0)
    status, body = get(f"{garbage.url}/suno/fetch/y")
    assert status == 200 and body in chaos.GARBAGE_BODIES
    stalled = proxy_for(upstream, fail_rate=0.0, garbage_rate=0.0, timeout_rate=1.0, stall_seconds=0.2)
    assert get(f"{stalled.url}/suno/fetch/z") == (200, json.dumps({"code": "success", "data": "/suno/fetch/z"})
                                                  .encode())  # forwarded: the upstream did the work, late
    status, body = get(f"{failing.url}/chaos/stats")
    stats = json.loads(body)["this"]
    assert stats["requests"] == 20 and stats["http_503"] + stats["http_429"] == 20 and stats["pass_through"] == 1
    assert json.loads(get(f"{stalled.url}/chaos/stats")[1])["this"]["timeouts"] == 1
    for proxy in (failing, garbage, stalled):
        proxy.stop()
    upstream.server.shutdown()


def _ctx(tmp_path: Path) -> StackContext:
    return StackContext(root=tmp_path, state_dir=tmp_path, moto_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2",
                        env={}, template={}, tables={}, queues={},
                        channels=[ChannelSeed("suno", "http://127.0.0.1:9", name="suno-sim"),
                                  ChannelSeed("midjourney", "http://127.0.0.1:8", name="midjourney-sim")])


def test_off_by_default_and_on_it_fronts_every_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_CHAOS", raising=False)
    ctx = _ctx(tmp_path)
    assert chaos.start(ctx) is None and ctx.channels == _ctx(tmp_path).channels and ctx.env == {}

    monkeypatch.setenv("LOCAL_CHAOS", "1")
    monkeypatch.setenv("LOCAL_CHAOS_TASK_TIMEOUT_SECONDS", "120")
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "")
    component = chaos.start(ctx)
    try:
        assert [(s.type, s.name) for s in ctx.channels] == [("suno", "suno-sim"), ("suno", "suno-sim-2"),
                                                            ("midjourney", "midjourney-sim")]
        proxies = {p.channel: p for p in component.proxies}
        assert {s.base_url for s in ctx.channels} == {p.url for p in proxies.values()}
        assert proxies["suno-sim-2"].upstream == proxies["suno-sim"].upstream == "http://127.0.0.1:9"
        assert all(f"127.0.0.1:{p.port}" in ctx.env["PRIVATE_HOST_ALLOWLIST"] for p in proxies.values())
        assert ctx.env["UPSTREAM_READ_TIMEOUT"] == "2" and ctx.env["TASK_TIMEOUT_SECONDS"] == "120"
    finally:
        component.stop()
