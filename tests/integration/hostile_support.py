"""Helpers for the hostile-input tests (issue 12 items 11-14): requests through the Chalice test client and
a snapshot of everything a refused request must leave untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taskcenter.store.models import Counter, Credential, LedgerEntry, Task, User

UNICODE_DIGITS = ("\u00b2", "\u0663", "\u0661\u0662", "1\u00b2", "-\u00b2", "\uff11", "\u2460", "\u0968")
"""Superscript two (isdigit, int() raises), Arabic-Indic three and twelve (int() accepts them), mixed,
negative superscript, fullwidth one, circled one, Devanagari two: none is an ASCII number."""


def request(client: Any, method: str, path: str, headers: dict[str, str], body: Any = None,
            raw: bytes | None = None) -> tuple[int, Any]:
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    reply = client.http.request(method, path, headers=headers, body=payload)
    return reply.status_code, json.loads(reply.body) if reply.body else None


@dataclass(frozen=True)
class Snapshot:
    """Every table a request could write to: a refused request changes none of them."""

    tasks: int
    ledger: int
    quotas: tuple[tuple[int, int, int], ...]
    keys: tuple[tuple[str, int, int], ...]
    counters: tuple[tuple[str, int], ...]


def snapshot() -> Snapshot:
    # Scans: test code reading a whole small moto table, never a request path.
    users = sorted((int(u.id), int(u.quota), int(u.used_quota)) for u in User.scan())
    keys = sorted((c.token_hash, int(c.remaining_quota or 0), int(c.used_quota or 0)) for c in Credential.scan())
    counters = sorted((c.name, int(c.value or 0)) for c in Counter.scan() if not c.name.startswith("seq#"))
    return Snapshot(tasks=sum(1 for _ in Task.scan()), ledger=sum(1 for _ in LedgerEntry.scan()),
                    quotas=tuple(users), keys=tuple(keys), counters=tuple(counters))


def assert_dashboard_refusal(status: int, body: Any, expected: int = 400) -> None:
    assert status == expected, body
    assert body["success"] is False and body["message"], body


def assert_suno_refusal(status: int, body: Any, expected: int = 400) -> None:
    assert status == expected, body
    assert set(body) == {"code", "message", "data"} and body["data"] is None and body["code"] != "success", body
    assert body["code"] != "internal_error", body


def assert_mj_refusal(status: int, body: Any, expected: int = 400) -> None:
    assert status == expected, body
    assert set(body) == {"description", "type", "code"} and body["code"] not in (1, 5), body


def assert_v1_refusal(status: int, body: Any, expected: int = 400) -> None:
    assert status == expected, body
    assert set(body) == {"code", "message", "data"} and body["data"] is None, body
    assert 40000 <= body["code"] < 50000, body


def assert_openai_refusal(status: int, body: Any, expected: int = 400) -> None:
    assert status == expected, body
    assert set(body) == {"error"} and body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
