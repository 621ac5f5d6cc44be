"""The usage-log routes' part of the OpenAPI description (docs/usage-log.md); api_description.py merges it,
handing in its own builders (so this module imports nothing from it: no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741


def schemas(obj: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return {
        "UsageLogRow": obj({
            "id": {**I, "description": "user listing: the row's position; admin: the entry's time (ms)"},
            "user_id": I, "created_at": {**I, "description": "seconds"},
            "type": {"type": "integer", "enum": [1, 2, 6], "description": "1 top-up, 2 consume, 6 refund"},
            "content": S, "username": S, "token_name": S, "model_name": S, "quota": I, "prompt_tokens": I,
            "completion_tokens": I, "use_time": I, "is_stream": {"type": "boolean"}, "channel": I,
            "channel_name": S, "token_id": I, "group": S, "ip": S,
            "other": {**S, "description": "a JSON-encoded object (task_id, reason, settlement)"}},
            ["id", "user_id", "created_at", "type", "content", "quota", "other"]),
        "UsageLogStat": obj({"quota": I, "rpm": I, "tpm": I}, ["quota", "rpm", "tpm"]),
    }


def operations(op: Callable[..., dict[str, Any]], ref: Callable[[str], dict[str, Any]],
               envelope: Callable[[str, dict[str, Any]], dict[str, Any]], page: Callable[[str], dict[str, Any]],
               q: Callable[..., dict[str, Any]], page_params: list[dict[str, Any]]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    rows = envelope("dashboard", page("UsageLogRow"))
    stat = envelope("dashboard", ref("UsageLogStat"))
    filters = [q("type", {"type": "integer", "minimum": 0, "maximum": 7}, "0 all, 1 top-up, 2 consume, 6 refund"),
               q("start_timestamp", I, "seconds, on created_at"), q("end_timestamp", I, "seconds, on created_at"),
               *(q(name, S, "not recorded in the ledger: a non-empty value matches no row")
                 for name in ("token_name", "model_name", "group", "request_id", "upstream_request_id"))]
    admin = [q("username", S, "exact (no % wildcards)"), q("channel", I, "0 or absent only (no channel on the ledger)")]
    return {
        ("GET", "/api/log/self"): op("dashboard", "The caller's usage log, newest first", rows,
                                     params=page_params + filters),
        ("GET", "/api/log"): op("dashboard", "Every user's usage log (admin); also served at /api/log/", rows,
                                params=page_params + filters + admin),
        ("GET", "/api/log/self/stat"): op("dashboard", "The caller's consumed quota in the window", stat,
                                          params=filters),
        ("GET", "/api/log/stat"): op("dashboard", "Consumed quota in the window (admin)", stat,
                                     params=filters + admin),
    }
