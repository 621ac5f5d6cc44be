"""What the simulated upstreams share (docs/video.md, docs/local-stack.md): an HTTP server on a daemon thread,
a clock a test can advance, the `POST /sim/config` knobs, the `*_SIM_*` environment knobs, and the
deterministic asset bytes with their chunked download. Each simulator keeps its own routes and envelopes.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from infra.simulators import QuietJsonHandler

CHUNK = 64 * 1024
SECONDS = re.compile(r"sim:seconds=(\d{1,4})")  # the prompt control `sim:seconds=N`: N seconds produced


def asset_bytes(upstream_id: str, variant: str, size: int) -> bytes:
    """The simulator's asset: a repeated pattern naming the video and variant, `size` bytes long."""
    pattern = f"[{upstream_id}:{variant}]".encode()
    return (pattern * (size // len(pattern) + 1))[:size]


def knobs_from_env(config: Any, prefix: str, env: Mapping[str, str]) -> None:
    """Set the common knobs of `config` from `<prefix>_LATENCY`, `_SUBMIT_FAILURE_RATE`, `_TASK_FAILURE_RATE`,
    `_STEP_SECONDS` ("first,last") and `_RESULT_BYTES`, where they are set."""
    for name in ("latency_s", "submit_failure_rate", "task_failure_rate"):
        var = f"{prefix}_{name.upper().removesuffix('_S')}"
        if env.get(var):
            setattr(config, name, float(env[var]))
    if env.get(f"{prefix}_STEP_SECONDS"):
        parts = [float(p) for p in env[f"{prefix}_STEP_SECONDS"].split(",")]
        config.step_seconds = (parts[0], parts[-1])
    if env.get(f"{prefix}_RESULT_BYTES"):
        config.result_bytes = int(env[f"{prefix}_RESULT_BYTES"])


class SimulatorServer:
    """`with Sim() as sim: sim.url` - a ThreadingHTTPServer on `port` (0: a free one), served on a daemon thread.

    A subclass names its `config_type` (a dataclass with `seed`; its defaults when no config is given), its
    `state_type` (with `offset`, and `creates` for `creates`) and `_bind_handler()`, its request handler."""

    name = "sim"
    config_type: type
    state_type: type
    fixed_settings: frozenset[str] = frozenset()  # config fields `POST /sim/config` may not change

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: Any = None) -> None:
        self.config = config or self.config_type()
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._state = self.state_type()
        self._counter = 0  # for the simulators that number their ids
        self._server = ThreadingHTTPServer((host, port), self._bind_handler())
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[0], int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    def _bind_handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, so only when it runs
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def creates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.creates)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._state.offset += seconds

    def _now(self) -> float:
        return time.monotonic() + self._state.offset

    def configure(self, **changes: Any) -> None:
        known = {f.name for f in fields(self.config)} - self.fixed_settings
        with self._lock:
            for name, value in changes.items():
                if name not in known:
                    raise ValueError(f"unknown simulator setting {name!r}")
                setattr(self.config, name, tuple(float(v) for v in value) if name == "step_seconds" else value)


class SimHandler(QuietJsonHandler):
    """The simulators' request handler base: body reading, latency, `/sim/config`, asset bytes."""

    def read_raw(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self, raw: bytes | None = None) -> Any:
        """The body as JSON; None when empty or not JSON (each simulator answers that in its envelope)."""
        raw = self.read_raw() if raw is None else raw
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    @staticmethod
    def delay(sim: SimulatorServer) -> None:
        if sim.config.latency_s > 0:
            time.sleep(sim.config.latency_s)  # simulated upstream latency (a test helper, not Lambda code)

    def answer_config(self, sim: SimulatorServer, body: Any, error: Callable[[str], Any],
                      view: Callable[[dict[str, Any]], Any] = lambda config: {"config": config}) -> None:
        """`POST /sim/config {field: value}`: 400 `error(message)` for an unknown field, else 200 `view(config)`."""
        try:
            sim.configure(**(body or {}))
        except (TypeError, ValueError) as problem:
            self.send_body(400, error(str(problem)))
            return
        self.send_body(200, view(asdict(sim.config)))

    def send_asset(self, data: bytes, content_type: str) -> None:
        """200 with `data`, written in CHUNK pieces (an asset is megabytes)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for start in range(0, len(data), CHUNK):
            self.wfile.write(data[start:start + CHUNK])


def handler_for(base: type[BaseHTTPRequestHandler], sim: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    """`base` bound to one simulator (its `sim` attribute)."""
    return type("Handler", (base,), {"sim": sim})
