"""Issue 12 items 12 and 14: every JSON route refuses deep nesting, NaN/Infinity, out-of-range floats and
huge integers with a 400 in its surface's envelope, and writes nothing (before: RecursionError -> 500;
NaN accepted, charged and sent upstream as invalid JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from taskcenter.domain.json_body import MAX_DEPTH

from tests.integration.hostile_support import (
    assert_mj_refusal,
    assert_openai_refusal,
    assert_suno_refusal,
    assert_v1_refusal,
    request,
    snapshot,
)

# (method, path, credentials, envelope check, a valid body the hostile values are put into)
ROUTES: list[tuple[str, str, str, Callable[..., None], dict[str, Any]]] = [
    ("POST", "/suno/submit/music", "key", assert_suno_refusal, {"prompt": "a song", "continue_at": 1}),
    ("POST", "/suno/submit/lyrics", "key", assert_suno_refusal, {"prompt": "the sea"}),
    ("POST", "/suno/fetch", "key", assert_suno_refusal, {"ids": ["task_x"]}),
    ("POST", "/mj/submit/imagine", "key", assert_mj_refusal, {"prompt": "a fox"}),
    ("POST", "/mj/submit/action", "key", assert_mj_refusal, {"taskId": "1", "customId": "MJ::JOB::upsample::1::a"}),
    ("POST", "/mj/submit/blend", "key", assert_mj_refusal, {"base64Array": []}),
    ("POST", "/mj/submit/describe", "key", assert_mj_refusal, {"base64": ""}),
    ("POST", "/mj/submit/modal", "key", assert_mj_refusal, {"taskId": "1"}),
    ("POST", "/mj/submit/shorten", "key", assert_mj_refusal, {"prompt": "a fox"}),
    ("POST", "/mj/submit/change", "key", assert_mj_refusal, {"taskId": "1", "action": "UPSCALE", "index": 1}),
    ("POST", "/mj/task/list-by-condition", "key", assert_mj_refusal, {"ids": ["1"]}),
    ("POST", "/api/v1/task", "key", assert_v1_refusal,
     {"script_name": "follow", "serials": ["dev1"], "script_config": {"target_usernames": ["someone"]}}),
    ("POST", "/api/v1/task/retry-all", "key", assert_v1_refusal, {}),
    ("DELETE", "/api/v1/task/batch", "key", assert_v1_refusal, {"task_ids": [1]}),
    ("POST", "/v1/videos", "key", assert_openai_refusal, {"prompt": "a kite", "model": "sora-2"}),
    ("POST", "/v1/video/generations", "key", assert_suno_refusal, {"prompt": "a kite", "model": "kling-v1"}),
]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP_BODIES = {
    "open brackets x 100,000": b"[" * 100_000,
    "object in object x 50,000": b'{"a":' * 50_000,
    f"{MAX_DEPTH + 1} levels, valid JSON": f'{{"prompt": "x", "extra": {_nested(MAX_DEPTH)}}}'.encode(),
}
# Raw JSON text for a value, put in place of the body's first field.
NON_FINITE = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e309": "1e309",
              "-1e400": "-1e400", "400 digits": "1" * 400, "5000 digits": "9" * 5000, "39 digits": "1" * 39}


def _with_raw_value(body: dict[str, Any], raw_value: str) -> bytes:
    import json

    first = next(iter(body), "x")
    rest = {k: v for k, v in body.items() if k != first}
    text = json.dumps(rest)
    inner = text[1:-1]
    return ("{" + json.dumps(first) + ": " + raw_value + (", " + inner if inner else "") + "}").encode()


def _message(reply: dict[str, Any]) -> str:
    """The refusal's text in each surface's envelope (Suno and v1: message; MJ: description; OpenAI: error)."""
    return str(reply.get("message") or reply.get("description") or reply["error"]["message"])


def _headers(world: Any) -> dict[str, str]:
    return world.user.relay_headers()


@pytest.mark.parametrize(("method", "path", "who", "check", "body"), ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_deep_nesting_is_a_400_on_every_json_route(client: Any, world: Any, method: str, path: str, who: str,
                                                   check: Callable[..., None], body: dict[str, Any]) -> None:
    before = snapshot()
    for name, raw in DEEP_BODIES.items():
        assert len(raw) < 256 * 1024, name  # under the body cap: the nesting is what is refused
        status, reply = request(client, method, path, _headers(world), raw=raw)
        check(status, reply)
        message = _message(reply)
        assert "deeper than" in message or "not valid JSON" in message, (name, reply)
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path", "who", "check", "body"), ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_non_finite_numbers_and_huge_integers_are_a_400_on_every_json_route(
        client: Any, world: Any, method: str, path: str, who: str, check: Callable[..., None],
        body: dict[str, Any]) -> None:
    before = snapshot()
    for name, raw_value in NON_FINITE.items():
        status, reply = request(client, method, path, _headers(world), raw=_with_raw_value(body, raw_value))
        check(status, reply)
        message = _message(reply)
        assert "JSON" in message or "digits" in message, (name, reply)
    assert snapshot() == before


def test_nesting_up_to_the_limit_is_still_accepted(client: Any, world: Any) -> None:
    raw = f'{{"ids": [], "extra": {_nested(MAX_DEPTH - 1)}}}'.encode()
    status, reply = request(client, "POST", "/suno/fetch", _headers(world), raw=raw)
    assert status == 200 and reply == {"code": "success", "message": "", "data": []}, reply
    raw = b'{"ids": [], "big": 9.9e125, "long": ' + b"9" * 38 + b"}"  # DynamoDB's largest magnitude
    status, reply = request(client, "POST", "/suno/fetch", _headers(world), raw=raw)
    assert status == 200, reply


@pytest.mark.parametrize(("method", "path", "who", "check", "body"), ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_a_lone_surrogate_is_a_400_on_every_json_route(client: Any, world: Any, method: str, path: str, who: str,
                                                        check: Callable[..., None], body: dict[str, Any]) -> None:
    """Found by hostile testing (4 Dec 2026): `"\\ud800"` is valid JSON text but no character; it was charged,
    then every reply carrying it failed to encode (a 500, a connection cut under chalice local)."""
    before = snapshot()
    for raw in (_with_raw_value(body, '"a fox \\ud800"'), _with_raw_value(body, '"\\udfff"'),
                b'{"\\ud800": 1, ' + _with_raw_value(body, '"x"')[1:]):
        status, reply = request(client, method, path, _headers(world), raw=raw)
        check(status, reply)
        message = _message(reply)
        assert "surrogate" in message, (raw, reply)
    assert snapshot() == before
