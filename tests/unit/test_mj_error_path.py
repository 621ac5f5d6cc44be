"""One Midjourney error path (issue 13 item 5): functions/_http.guarded("mj") writes the envelope; its
type is "upstream_error" for a refusal too, as new-api relays midjourney-proxy (tests/integration/test_mj_relay.py
sees the same over the routes). Before, functions/mj.py wrapped every route in its own envelope and
guarded's `mj` branch, unreachable, said "invalid_request"."""

from __future__ import annotations

import json

from taskcenter.domain.errors import BadInput, UpstreamUnavailable

from functions._http import guarded


def _reply(surface: str, error: Exception) -> tuple[int, dict]:
    @guarded(surface)
    def view() -> None:
        raise error

    response = view()
    return response.status_code, json.loads(response.body)


def test_the_midjourney_error_envelope_is_written_once_and_says_upstream_error() -> None:
    """functions/_http.guarded("mj") is the one MJ error path (functions/mj.py's own wrapper is gone):
    midjourney-proxy's shape as new-api relays it, type always "upstream_error" (a refusal too)."""
    assert _reply("mj", BadInput("prompt is required")) == \
        (400, {"description": "prompt is required", "type": "upstream_error", "code": 4})
    assert _reply("mj", UpstreamUnavailable("every channel failed")) == \
        (502, {"description": "every channel failed", "type": "upstream_error", "code": 5})
    status, body = _reply("mj", RuntimeError("boom"))
    assert status == 500 and body["code"] == 5 and body["type"] == "upstream_error"
