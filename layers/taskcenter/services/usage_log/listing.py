"""The usage log as new-api serves it, from the ledger (docs/usage-log.md).

Routes (newapi-relay-wire.md §4.5): GET /api/log/self and /api/log/ (admin) list; /api/log/self/stat and
/api/log/stat sum. A ledger entry is one log row: `credit#` -> type 1 (top-up), `charge#` -> 2 (consume),
`refund#` -> 6 (refund); a video's completion-time settlement (`settle#`) is a 2 or a 6 by its kind.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from taskcenter import clock
from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_plan import BUCKET_MS
from taskcenter.services.core import listing_params
from taskcenter.services.core.auth import Principal
from taskcenter.services.usage_log import window
from taskcenter.store import usage_log
from taskcenter.store.repositories import current as repositories

TYPE_OF_KIND = {"credit": 1, "charge": 2, "refund": 6}
KINDS_OF_TYPE = {1: ("credit",), 2: ("charge",), 6: ("refund",)}
KNOWN_TYPES = frozenset(range(0, 8))
# Filters on columns the ledger does not hold (docs/usage-log.md): a non-empty one matches no row.
UNMATCHABLE = ("token_name", "model_name", "group", "request_id", "upstream_request_id")
ADMIN_DEFAULT_DAYS = 30  # admin window without a start_timestamp: walked by day (docs/usage-log.md)
MAX_ADMIN_DAYS = 366  # every user's window: at most 4 x 366 day items of hour buckets (docs/usage-log.md)
CLAMP_AFTER_MS = 2 * usage_log.DAY_MS  # a user's window longer than this starts at the user's oldest entry


def _log_type(params: dict[str, str | None]) -> int:
    value = listing_params.parse_int(params.get("type"), "type") or 0
    if value not in KNOWN_TYPES:
        raise BadInput("type must be between 0 and 7", field="type")
    return value


def _text(params: dict[str, str | None], name: str) -> str:
    value = str(params.get(name) or "").strip()
    if len(value) > 128:
        raise BadInput(f"{name} is too long", field=name)
    return value


def _unmatchable(params: dict[str, str | None]) -> bool:
    return any(_text(params, name) for name in UNMATCHABLE)


def _content(row: usage_log.LedgerRow) -> str:
    if row.kind == "credit":
        return row.note or "top-up"
    if row.entry.startswith("settle#"):
        return f"settlement of task {row.task_id}"
    return "" if row.kind == "refund" else f"task {row.task_id}"


def _other(row: usage_log.LedgerRow) -> str:
    other: dict[str, Any] = {}
    if row.task_id:
        other["task_id"] = row.task_id
        other["is_task"] = True
    if row.entry.startswith("settle#"):
        other["settlement"] = True
    if row.kind == "refund" and not row.entry.startswith("settle#"):  # the task's fail reason (wire 4.5)
        other["reason"] = row.note or "task failed"
    return json.dumps(other, separators=(",", ":"), ensure_ascii=False)  # v1.0 UI JSON.parses it


def log_row(row: usage_log.LedgerRow, *, row_id: int, username: str) -> dict[str, Any]:
    """One new-api log row (newapi-relay-wire.md §4.5 keys; request ids omitted: none recorded)."""
    return {
        "id": row_id, "user_id": row.user_id, "created_at": row.at_ms // 1000, "type": TYPE_OF_KIND.get(row.kind, 4),
        "content": _content(row), "username": username, "token_name": "", "model_name": "", "quota": row.amount,
        "prompt_tokens": 0, "completion_tokens": 0, "use_time": 0, "is_stream": False, "channel": 0,
        "channel_name": "", "token_id": 0, "group": "", "ip": "", "other": _other(row),
    }


def _page(params: dict[str, str | None]) -> tuple[int, int]:
    # the task listings' rules, default 20 (docs/compatibility.md); any depth is served (docs/usage-log.md)
    return listing_params.parse_paging(params)


def _kinds(log_type: int) -> tuple[str, ...] | None:
    return KINDS_OF_TYPE.get(log_type) if log_type else None


def _envelope(page: int, size: int, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"page": page, "page_size": size, "total": total, "items": items}


def _empty(page: int, size: int) -> dict[str, Any]:
    return _envelope(page, size, [], 0)


def _window_start(scope: window.Scope, start_ms: int | None, end_ms: int | None, now: int) -> int | None:
    """Where the window's reads begin (None: no row can match), or a 400 for every user's window over a year."""
    if scope.user_id is not None and (start_ms is None or (end_ms or now) - start_ms > CLAMP_AFTER_MS):
        # no start, or a long window: the user's log from its oldest entry's hour (one index entry read), so
        # the window reads no day items before the first entry (on the hour: no edge hour to count)
        oldest = usage_log.oldest_ms(scope.user_id)
        if oldest is None:
            return None
        start_ms = max(start_ms or 0, oldest - oldest % BUCKET_MS)
    if start_ms is None:
        return None
    if scope.user_id is None and (end_ms or now) - start_ms > MAX_ADMIN_DAYS * usage_log.DAY_MS:
        # every user's window reads 4 day items per day (docs/usage-log.md): a longer one is a 400
        raise BadInput(f"the admin log's window is at most {MAX_ADMIN_DAYS} days without a username: "
                       "narrow start_timestamp/end_timestamp", field="start_timestamp")
    return start_ms


def _listing(scope: window.Scope, page: int, size: int, start_ms: int | None, end_ms: int | None,
             kinds: tuple[str, ...] | None) -> tuple[int, int, usage_log.LedgerPage]:
    """(total, offset, the page's rows): the exact total from the hour buckets, the page read from the hour
    holding its first row (services/usage_log/window.py)."""
    offset, now = (page - 1) * size, clock.now_ms()
    start = _window_start(scope, start_ms, end_ms, now)
    if start is None:
        return 0, offset, usage_log.LedgerPage([])
    counted = window.count_window(scope, start, end_ms, now, kinds)
    result = window.read_page(scope, counted, offset, size, kinds)
    return counted.total, offset, result


def list_own(params: dict[str, str | None], principal: Principal) -> dict[str, Any]:
    page, size = _page(params)
    log_type = _log_type(params)
    start_ms, end_ms = listing_params.parse_time_range(params)
    if _unmatchable(params) or (log_type and log_type not in KINDS_OF_TYPE):
        return _empty(page, size)
    total, offset, result = _listing(window.Scope(principal.user_id), page, size, start_ms, end_ms,
                                     _kinds(log_type))
    # new-api's user listing numbers its rows by position, not by row id (§4.5)
    items = [log_row(row, row_id=offset + i + 1, username=principal.username) for i, row in enumerate(result.rows)]
    return _envelope(page, size, items, total)


def _admin_user(params: dict[str, str | None]) -> int | None | bool:
    """The user an admin filters on (exact username; `%` wildcards are not served); False: no such user."""
    username = _text(params, "username")
    if not username:
        return None
    if "%" in username:
        raise BadInput("username wildcards are not supported", field="username")
    user_id = repositories().users.id_of(username)
    return False if user_id is None else user_id


def _admin_window(params: dict[str, str | None]) -> tuple[int, int]:
    start_ms, end_ms = listing_params.parse_time_range(params)
    end = end_ms if end_ms is not None else clock.now_ms() + 3_600_000
    start = start_ms if start_ms is not None else end - ADMIN_DEFAULT_DAYS * usage_log.DAY_MS
    return start, end


def list_all(params: dict[str, str | None], principal: Principal) -> dict[str, Any]:
    page, size = _page(params)
    log_type = _log_type(params)
    start_ms, end_ms = _admin_window(params)
    channel = listing_params.parse_int(params.get("channel"), "channel")
    user_id = _admin_user(params)
    if (_unmatchable(params) or (log_type and log_type not in KINDS_OF_TYPE) or user_id is False
            or (channel is not None and channel != 0)):
        return _empty(page, size)
    scope = window.Scope(user_id if isinstance(user_id, int) else None)
    total, _, result = _listing(scope, page, size, start_ms, end_ms, _kinds(log_type))
    names = _usernames({row.user_id for row in result.rows})
    items = [log_row(row, row_id=0, username=names.get(row.user_id, "")) for row in result.rows]
    taken: set[int] = set()
    for item, row in zip(items, result.rows, strict=True):
        row_id = admin_row_id(row)
        while row_id in taken:  # 1 in 1,000 for two entries of one millisecond: still distinct on the page
            row_id += 1
        taken.add(row_id)
        item["id"] = row_id
    return _envelope(page, size, items, total)


def admin_row_id(row: usage_log.LedgerRow) -> int:
    """The ledger has no numeric row id: the entry's time (ms, so ids sort as new-api's) with 3 digits of its
    key's CRC-32, so the entries of one transaction (a v1 create's charges) or one millisecond do not share an
    id (they did: found by hostile testing); stable across requests, below 2**53 for JavaScript."""
    return row.at_ms * 1000 + zlib.crc32(f"{row.user_id}#{row.entry}".encode()) % 1000


def _usernames(user_ids: set[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for user_id in sorted(user_ids):
        user = repositories().users.get(user_id)
        if user is not None:
            out[user_id] = str(user.username)
    return out


NO_STAT = {"quota": 0, "rpm": 0, "tpm": 0}
RECENT_MS = 60_000  # new-api's rpm/tpm: consume rows of the last 60 s, the time window not applied (§4.5)


def _stat(scope: window.Scope, start_ms: int | None, end_ms: int | None) -> dict[str, int]:
    """quota: the consume (type 2) rows' sum in the window, from the hour buckets' amounts and at most one hour's
    rows per edge; rpm: consume rows of the last 60 s (a COUNT of that minute); tpm: 0 (the ledger holds no
    tokens). Neither grows with the log's length (docs/usage-log.md, "Stat")."""
    now = clock.now_ms()
    start = _window_start(scope, start_ms, end_ms, now)
    quota = window.quota_window(scope, start, end_ms, now).quota if start is not None else 0
    # rows exist up to the writer's now: the last minute's upper bound is the windows' (now + 1 h)
    rpm, _ = scope.count(now - RECENT_MS, now + BUCKET_MS, ("charge",))
    return {"quota": quota, "rpm": rpm, "tpm": 0}


def stat_own(params: dict[str, str | None], principal: Principal) -> dict[str, int]:
    """The user's stat (the `type` parameter ignored, as new-api)."""
    _log_type(params)
    start_ms, end_ms = listing_params.parse_time_range(params)
    if _unmatchable(params):
        return dict(NO_STAT)
    return _stat(window.Scope(principal.user_id), start_ms, end_ms)


def stat_all(params: dict[str, str | None], principal: Principal) -> dict[str, int]:
    """The admin stat: as stat_own over every user (the admin window: 30 days by default, at most 366 without
    a username) or the `username` filter's user."""
    _log_type(params)
    start_ms, end_ms = _admin_window(params)
    channel = listing_params.parse_int(params.get("channel"), "channel")
    user_id = _admin_user(params)
    if _unmatchable(params) or user_id is False or (channel is not None and channel != 0):
        return dict(NO_STAT)
    return _stat(window.Scope(user_id if isinstance(user_id, int) else None), start_ms, end_ms)
