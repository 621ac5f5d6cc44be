"""Local stack component: the simulated TikMatrix host, and the reference curl example as written.

- The simulator (infra/simulators/tikmatrix.py) runs in a child process (infra/local/simproc.py: restarted
  if it crashes); one `tikmatrix` channel is seeded
  for it, serving devices `device_serial_1..3` and accounts `demo_account_1..3` (one per device).
- The TikMatrix documentation's example calls `http://localhost:50809/api/v1/task` without credentials
  (the desktop app serves its API on the local machine). So that the example works unchanged, the stack
  also listens on 127.0.0.1:50809 (LOCAL_TIKMATRIX_COMPAT_PORT; a free port if 50809 is taken) and
  forwards `/api/v1/...` to the API as the demo user (its API key added when the request has no
  Authorization). It is a local convenience: it only listens on the loopback and only exists in the
  local stack. Its URL is `TIKMATRIX_COMPAT_URL` in credentials.json's `env`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

from infra.local import simproc
from infra.local.context import StackContext
from infra.simulators.tikmatrix import SimConfig, TikMatrixSimulator

ORDER = 20  # a simulator: before the API
DEVICES = ("device_serial_1", "device_serial_2", "device_serial_3")
ACCOUNTS = tuple(f"demo_account_{i}@{serial}" for i, serial in enumerate(DEVICES, start=1))
# The create example exactly as tikmatrix-task-api.md prints it.
REFERENCE_CURL = """curl -X POST http://localhost:50809/api/v1/task \\
  -H "Content-Type: application/json" \\
  -d '{
    "serials": ["device_serial_1"],
    "script_name": "post",
    "script_config": {
      "content_type": 0,
      "captions": "Check out my new video! #viral #fyp",
      "material_list": ["C:/Videos/video1.mp4"],
      "upload_wait_time": 60
    }
  }'"""
REFERENCE_BODY = {
    "serials": ["device_serial_1"],
    "script_name": "post",
    "script_config": {"content_type": 0, "captions": "Check out my new video! #viral #fyp",
                      "material_list": ["C:/Videos/video1.mp4"], "upload_wait_time": 60},
}


class CompatProxy:
    """Forwards /api/v1/* to the API, adding the demo user's API key when no credentials are given."""

    name = "tikmatrix-compat"

    def __init__(self, ctx: StackContext, host: str, port: int) -> None:
        self.ctx = ctx
        self.server = ThreadingHTTPServer((host, port), _proxy_handler(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = Thread(target=self.server.serve_forever, name="tikmatrix-compat", daemon=True)

    def start(self) -> CompatProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        send = {k: v for k, v in headers.items() if k.lower() in {"content-type", "authorization", "x-api-key"}}
        if not any(k.lower() in {"authorization", "x-api-key"} for k in send):
            demo = self.ctx.credentials.get("demo") or {}
            send["Authorization"] = f"Bearer {demo.get('api_key', '')}"
        request = urllib.request.Request(self.ctx.api_url + path, data=body if body else None, method=method,
                                         headers=send)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback API only
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _proxy_handler(proxy: CompatProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            return

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not self.path.startswith("/api/v1/"):
                status, raw = 404, json.dumps({"code": 40401, "message": "not found", "data": None}).encode()
            else:
                status, raw = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_DELETE = _relay  # noqa: N815

    return Handler


class Components:
    """The simulator and the compat listener, stopped together."""

    name = "tikmatrix-sim"

    def __init__(self, sim: simproc.SimulatorProcess, proxy: CompatProxy | None) -> None:
        self.sim, self.proxy, self.url = sim, proxy, sim.url
        self.processes = (sim,)  # supervised by the stack (infra/local/supervisor.py)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.sim.stop()


def _compat_proxy(ctx: StackContext) -> CompatProxy | None:
    wanted = int(os.environ.get("LOCAL_TIKMATRIX_COMPAT_PORT", "50809"))
    for port in dict.fromkeys((wanted, 0)):
        try:
            return CompatProxy(ctx, ctx.host, port).start()
        except OSError:
            continue
    return None


def start(ctx: StackContext) -> Components:
    config = SimConfig(pending_seconds=0.5, run_seconds=5.0)
    sim = simproc.spawn(ctx, TikMatrixSimulator.name, TikMatrixSimulator, config)
    ctx.allow_host(sim.host, sim.port)
    ctx.channels.append(ctx_channel(sim.url))
    proxy = _compat_proxy(ctx)
    if proxy is not None:
        ctx.env["TIKMATRIX_COMPAT_URL"] = proxy.url
        host = proxy.url.replace("127.0.0.1", "localhost").split("//", 1)[1]
        example = REFERENCE_CURL.replace("localhost:50809", host).replace("\n", "\n  ")
        ctx.examples.append(example.replace("{", "{{").replace("}", "}}"))
        ctx.checks.append(("reference TikMatrix curl example creates a task", lambda: _check_reference(proxy)))
    ctx.examples.append("curl -s '{api}/api/v1/task?page=1&page_size=20' -H 'Authorization: Bearer {demo_key}'")
    ctx.examples.append("curl -s {api}/api/v1/task/stats -H 'Authorization: Bearer {demo_key}'")
    ctx.checks.append(("tikmatrix simulator answers",
                       lambda: urllib.request.urlopen(sim.url + "/health", timeout=5).read()))  # noqa: S310
    return Components(sim, proxy)


def ctx_channel(url: str):  # type: ignore[no-untyped-def]
    from infra.local.context import ChannelSeed

    return ChannelSeed("tikmatrix", url, name="tikmatrix-sim", devices=DEVICES, accounts=ACCOUNTS)


def _check_reference(proxy: CompatProxy) -> None:
    status, raw = proxy.forward("POST", "/api/v1/task", {"Content-Type": "application/json"},
                                json.dumps(REFERENCE_BODY).encode())
    reply = json.loads(raw)
    if status != 200 or reply.get("code") != 0 or reply["data"]["created_count"] != 1:
        raise RuntimeError(f"reference example answered HTTP {status}: {raw[:300]!r}")
