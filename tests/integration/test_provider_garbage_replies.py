"""A 200 whose body is not the upstream's envelope is garbage (fail over), not a refusal (found by the chaos run).

docs/architecture.md#providers-and-channels: fail over on 429/5xx/timeouts, never on 400-class refusals.
A 200 without the envelope's
code is neither; before the fix the Suno and Midjourney adapters took it as a refusal and failed the task
without trying another channel.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError, SubmitRequest, TransientUpstreamError
from taskcenter.providers.midjourney import MidjourneyProvider
from taskcenter.providers.suno import SunoProvider

REPLY: dict[str, Any] = {"body": None}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        raw = json.dumps(REPLY["body"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{host}:{port}")
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


def _submit(provider: Any, body: Any, action: str) -> None:
    REPLY["body"] = body
    provider.submit(SubmitRequest("task_x", action, {"prompt": "p", "kind": "imagine", "body": {"prompt": "p"}}))


def test_a_200_without_the_envelope_code_is_transient_and_a_real_refusal_is_permanent(upstream: str) -> None:
    suno = SunoProvider(ChannelInfo(id=1, type="suno", base_url=upstream, secret="k"))
    mj = MidjourneyProvider(ChannelInfo(id=2, type="midjourney", base_url=upstream, secret="k"))
    for garbage in ({"unexpected": True}, {"code": None, "data": "x"}, {"code": ""}):
        with pytest.raises(TransientUpstreamError):
            _submit(suno, garbage, "MUSIC")
    for garbage in ({"unexpected": True}, {"code": "success", "result": "1"}, {"code": True, "result": "1"}):
        with pytest.raises(TransientUpstreamError):
            _submit(mj, garbage, "IMAGINE")
    with pytest.raises(PermanentUpstreamError):
        _submit(suno, {"code": "prompt_rejected", "message": "no", "data": None}, "MUSIC")
    with pytest.raises(PermanentUpstreamError):
        _submit(mj, {"code": 24, "description": "banned prompt"}, "IMAGINE")
