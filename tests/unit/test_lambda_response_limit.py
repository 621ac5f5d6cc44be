"""A reply is measured as the Lambda runtime sends it (taskcenter/domain/lambda_limits.py): the python3.11
runtime's marshaller ASCII-escapes the body string, so a reply of emoji or Chinese text is 3 to 6 times its
UTF-8 size. Found by hostile testing (4 Dec 2026): replies counted in UTF-8 passed as 2.3 MB and were 6.7 MB,
a bare 502 from API Gateway. Every route's reply passes `functions._http.guarded`, which answers 413 in the
surface's envelope instead. The limit is Lambda's own (6 MB), never patched here."""

from __future__ import annotations

import json

import pytest
from chalice import Response
from taskcenter.domain import lambda_limits

from functions._http import guarded, json_response, suno_ok

LIMIT = lambda_limits.LAMBDA_SYNC_PAYLOAD_BYTES


def test_a_response_is_counted_as_the_runtime_escapes_it() -> None:
    assert lambda_limits.response_json_size({"body": "\U0001f98a"}) == len('{"body": "\\ud83e\\udd8a"}')
    assert lambda_limits.body_in_response_size("中") == 6 and lambda_limits.body_in_response_size('"a"') == 5
    assert lambda_limits.body_in_response_size("\U0001f98a") == lambda_limits.MAX_ESCAPED_CHAR_BYTES


def _emoji_reply(count: int) -> Response:
    return json_response({"data": "\U0001f98a" * count})


def _fitting_count() -> int:
    """The most emoji a reply's `data` can hold: the limit less the rest of the response, 12 bytes each."""
    rest = lambda_limits.response_json_size({**_emoji_reply(0).to_dict(), "body": ""}) + len('{"data":""}')
    return (LIMIT - rest) // lambda_limits.MAX_ESCAPED_CHAR_BYTES


def test_a_response_fits_up_to_the_byte_and_not_one_emoji_more() -> None:
    count = _fitting_count()
    assert count * 4 < LIMIT // 2  # in UTF-8 the largest fitting reply is under half the limit
    assert lambda_limits.response_fits(_emoji_reply(count).to_dict())
    assert not lambda_limits.response_fits(_emoji_reply(count + 1).to_dict())
    ascii_body = json_response({"data": "a" * (count * 6)})  # ASCII: counted at its own size, and fits
    assert lambda_limits.response_fits(ascii_body.to_dict())


@pytest.mark.parametrize(("surface", "envelope"), [
    ("suno", {"code", "message", "data"}), ("mj", {"description", "type", "code"}),
    ("dashboard", {"success", "message"}), ("v1", {"code", "message", "data"}), ("openai", {"error"}),
])
def test_a_reply_past_the_limit_is_a_413_in_the_surfaces_envelope(surface: str, envelope: set[str]) -> None:
    oversized = guarded(surface)(lambda: suno_ok("\U0001f98a" * (_fitting_count() + 1)))()
    assert oversized.status_code == 413 and set(json.loads(oversized.body)) == envelope, oversized.body
    assert "fewer" in oversized.body
    fitting = guarded(surface)(lambda: suno_ok("\U0001f98a" * (_fitting_count() - 100)))()
    assert fitting.status_code == 200
