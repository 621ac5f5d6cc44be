"""Local stack component: fault-injecting proxies in front of the simulated upstreams (docs/chaos.md).

Does nothing unless LOCAL_CHAOS=1. When on, after the simulators registered their channel seeds (ORDER
10-20) and before seeding, it puts a small HTTP proxy (a thread of the stack process) in front of each
simulator channel, points the channel's `base_url` at the proxy, and adds a second `suno` channel
(`suno-sim-2`, the same simulator behind its own proxy, same priority) so that a chaos run can delete a
channel while its tasks are in flight.

Each proxied request (image downloads, /health and /sim/config pass through untouched) is, by one seeded
draw:
- answered 503 or 429 without reaching the simulator   (LOCAL_CHAOS_FAIL_RATE, default 0.3)
- answered 200 with a body that is not JSON or has the wrong shape, without reaching the simulator
                                                          (LOCAL_CHAOS_GARBAGE_RATE, default 0.05)
- forwarded, then answered only after LOCAL_CHAOS_STALL_SECONDS (default 3 s), past the API's
  UPSTREAM_READ_TIMEOUT (set to LOCAL_CHAOS_READ_TIMEOUT, default 2 s): the upstream did the work but
  the caller timed out                                    (LOCAL_CHAOS_TIMEOUT_RATE, default 0.05)
- forwarded unchanged otherwise.
LOCAL_CHAOS_DEVICES (default 30) extends the TikMatrix channel's devices to device_serial_1..N, so that many
Task API v1 tasks run at once (one task per device at a time) instead of queueing behind three devices.
LOCAL_CHAOS_SEED (default 1) seeds the draws. LOCAL_CHAOS_TASK_TIMEOUT_SECONDS, when set, becomes the
stack's TASK_TIMEOUT_SECONDS (the sweeper's limit; the template's default is 24 h).

`GET <proxy>/chaos/stats` answers what every proxy injected, per channel (the component's URL is the
first proxy; credentials.json "components"["chaos"]).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infra.local.context import ChannelSeed, StackContext

ORDER = 30  # after the simulators (10-20) registered their seeds, before seeding (and before the API)

SECOND_SUNO_NAME = "suno-sim-2"
GARBAGE_BODIES = (  # what a broken gateway or a changed upstream might answer with a 200
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"code": "success", "data": ',
    b"[]",
    b'{"unexpected": true}',
    b'{"code": "success", "message": "", "data": 12345}',
    b"null",
)
PASS_THROUGH = ("/health", "/sim/", "/chaos/")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}


def enabled(environ: dict[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("LOCAL_CHAOS", "").strip() == "1"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


@dataclasses.dataclass
class ChaosSettings:
    fail_rate: float = 0.3
    garbage_rate: float = 0.05
    timeout_rate: float = 0.05
    stall_seconds: float = 3.0
    seed: int = 1

    @classmethod
    def from_env(cls) -> ChaosSettings:
        return cls(fail_rate=_float("LOCAL_CHAOS_FAIL_RATE", 0.3),
                   garbage_rate=_float("LOCAL_CHAOS_GARBAGE_RATE", 0.05),
                   timeout_rate=_float("LOCAL_CHAOS_TIMEOUT_RATE", 0.05),
                   stall_seconds=_float("LOCAL_CHAOS_STALL_SECONDS", 3.0), seed=int(_float("LOCAL_CHAOS_SEED", 1)))


def is_pass_through(method: str, path: str) -> bool:
    """Image downloads and the simulators' own control routes are never disturbed."""
    return path.startswith(PASS_THROUGH) or (method == "GET" and "/image" in path)


class ChaosProxy:
    """One proxy in front of one channel's simulator. Counts what it injected."""

    def __init__(self, channel: str, upstream: str, settings: ChaosSettings, rng: random.Random,
                 rng_lock: threading.Lock, registry: list[ChaosProxy], host: str = "127.0.0.1") -> None:
        self.channel, self.upstream, self.settings = channel, upstream.rstrip("/"), settings
        self.rng, self.rng_lock, self.registry = rng, rng_lock, registry
        self.counts = {"requests": 0, "forwarded": 0, "pass_through": 0, "http_503": 0, "http_429": 0,
                       "garbage": 0, "timeouts": 0}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, 0), _handler(self))
        self.server.daemon_threads = True
        self.host, self.port = host, int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self.name = f"chaos-{channel}"
        self._thread = threading.Thread(target=self.server.serve_forever, name=self.name, daemon=True)
        registry.append(self)

    def start(self) -> ChaosProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def decide(self) -> str:
        """forward | fail | garbage | timeout, by one seeded draw."""
        with self.rng_lock:
            draw = self.rng.random()
        s = self.settings
        if draw < s.fail_rate:
            return "fail"
        if draw < s.fail_rate + s.garbage_rate:
            return "garbage"
        if draw < s.fail_rate + s.garbage_rate + s.timeout_rate:
            return "timeout"
        return "forward"

    def pick(self, options: tuple[Any, ...]) -> Any:
        with self.rng_lock:
            return self.rng.choice(options)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str],
                                                                                              bytes]:
        send = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        request = urllib.request.Request(self.upstream + path, data=body if body or method in {"POST", "PUT"}
                                         else None, method=method, headers=send)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 - a loopback simulator
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"channel": self.channel, "proxy": self.url, "upstream": self.upstream, **self.counts}


def _handler(proxy: ChaosProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the counts say enough
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    if key.lower() not in _HOP_HEADERS and key.lower() not in {"date", "server"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller timed out and went away: that was the point

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if self.command == "GET" and path == "/chaos/stats":
                stats = [p.stats() for p in proxy.registry]
                self._send(200, json.dumps({"this": proxy.stats(), "proxies": stats}).encode(),
                           {"Content-Type": "application/json"})
                return
            headers = dict(self.headers.items())
            if is_pass_through(self.command, path):
                proxy.count("pass_through")
                self._send(*_reordered(proxy.forward(self.command, self.path, headers, body)))
                return
            proxy.count("requests")
            decision = proxy.decide()
            if decision == "fail":
                status = proxy.pick((503, 429))
                proxy.count(f"http_{status}")
                self._send(status, json.dumps({"code": "chaos", "message": f"chaos: injected {status}"}).encode(),
                           {"Content-Type": "application/json", **({"Retry-After": "1"} if status == 429 else {})})
            elif decision == "garbage":
                proxy.count("garbage")
                self._send(200, proxy.pick(GARBAGE_BODIES), {"Content-Type": "application/json"})
            elif decision == "timeout":
                proxy.count("timeouts")
                reply = proxy.forward(self.command, self.path, headers, body)  # the upstream did the work...
                time.sleep(proxy.settings.stall_seconds)  # ...but answers after the caller gave up
                self._send(*_reordered(reply))
            else:
                proxy.count("forwarded")
                self._send(*_reordered(proxy.forward(self.command, self.path, headers, body)))

        do_GET = do_POST = do_DELETE = do_PUT = _relay  # noqa: N815

    return Handler


def _reordered(reply: tuple[int, dict[str, str], bytes]) -> tuple[int, bytes, dict[str, str]]:
    status, headers, body = reply
    return status, body, headers


def _more_devices(seed: ChannelSeed) -> tuple[str, ...]:
    wanted = int(_float("LOCAL_CHAOS_DEVICES", 30))
    if seed.type != "tikmatrix" or not seed.devices or wanted <= len(seed.devices):
        return seed.devices
    return tuple(dict.fromkeys([*seed.devices, *(f"device_serial_{i}" for i in range(1, wanted + 1))]))


class ChaosComponent:
    name = "chaos"

    def __init__(self, proxies: list[ChaosProxy]) -> None:
        self.proxies = proxies
        self.url = proxies[0].url if proxies else None

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()


def start(ctx: StackContext) -> ChaosComponent | None:
    if not enabled():
        return None
    settings = ChaosSettings.from_env()
    ctx.env["UPSTREAM_READ_TIMEOUT"] = os.environ.get("LOCAL_CHAOS_READ_TIMEOUT") or "2"
    if os.environ.get("LOCAL_CHAOS_TASK_TIMEOUT_SECONDS", "").strip():
        ctx.env["TASK_TIMEOUT_SECONDS"] = os.environ["LOCAL_CHAOS_TASK_TIMEOUT_SECONDS"].strip()
    rng, rng_lock = random.Random(settings.seed), threading.Lock()
    registry: list[ChaosProxy] = []
    seeds: list[ChannelSeed] = []
    for seed in ctx.channels:
        name = seed.name or f"{seed.type}-sim"
        proxy = ChaosProxy(name, seed.base_url, settings, rng, rng_lock, registry, ctx.host).start()
        ctx.allow_host(proxy.host, proxy.port)
        seeds.append(dataclasses.replace(seed, base_url=proxy.url, devices=_more_devices(seed)))
        if seed.type == "suno" and not any(s.name == SECOND_SUNO_NAME for s in ctx.channels):
            second = ChaosProxy(SECOND_SUNO_NAME, seed.base_url, settings, rng, rng_lock, registry, ctx.host).start()
            ctx.allow_host(second.host, second.port)
            seeds.append(dataclasses.replace(seed, base_url=second.url, name=SECOND_SUNO_NAME))
    ctx.channels[:] = seeds
    component = ChaosComponent(registry)
    if component.url:
        ctx.examples.append(f"curl -s {component.url}/chaos/stats   # chaos: what the proxies injected")
    return component
