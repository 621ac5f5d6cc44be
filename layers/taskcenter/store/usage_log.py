"""The usage log's reads of the ledger (services/usage_log, docs/usage-log.md): Queries on a key, never a scan.

- one user's entries: the `by_user_time` index (user_id, at_ms), newest first, `Limit` = the page;
- every user's entries (admin): the `by_day` index (day, at_ms; keys only), one Query per day walked newest
  first, then one BatchGetItem for the page's items.
A page's reads depend on the page number and size, not on how many entries the log holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from taskcenter.store.models import LedgerEntry

DAY_MS = 86_400_000


@dataclass(frozen=True)
class LedgerRow:
    user_id: int
    entry: str
    kind: str  # credit | charge | refund
    amount: int
    task_id: str
    at_ms: int
    note: str


@dataclass
class LedgerPage:
    rows: list[LedgerRow]
    more: bool  # at least one row after this page
    read: int = 0  # index entries the Queries evaluated (the benchmark's "items read")
    skipped: int = 0  # rows walked over to reach the page's offset
    extra: dict[str, Any] = field(default_factory=dict)


def _row(item: LedgerEntry) -> LedgerRow:
    return LedgerRow(int(item.user_id), str(item.entry), str(item.kind), int(item.amount),
                     str(item.task_id or ""), int(item.at_ms), str(item.note or ""))


def _range(start_ms: int | None, end_ms: int | None) -> Any:
    attr = LedgerEntry.at_ms
    if start_ms is not None and end_ms is not None:
        return attr.between(start_ms, end_ms)
    if start_ms is not None:
        return attr >= start_ms
    if end_ms is not None:
        return attr <= end_ms
    return None


def _kinds(kinds: tuple[str, ...] | None) -> Any:
    return LedgerEntry.kind.is_in(*kinds) if kinds else None


def user_page(user_id: int, offset: int, limit: int, *, start_ms: int | None = None, end_ms: int | None = None,
              kinds: tuple[str, ...] | None = None) -> LedgerPage:
    """Rows offset+1 .. offset+limit of the user's entries in [start_ms, end_ms], newest first."""
    condition, kind_filter = _range(start_ms, end_ms), _kinds(kinds)
    start: Any = None
    read = 0
    walked = 0
    while walked < offset:  # reach the offset: keys only, at most 100 per Query
        step = min(100, offset - walked)
        result = LedgerEntry.by_user_time.query(user_id, range_key_condition=condition, filter_condition=kind_filter,
                                                scan_index_forward=False, last_evaluated_key=start, limit=step,
                                                page_size=step, attributes_to_get=["user_id", "entry", "at_ms"])
        got = len(list(result))
        read += int(result.page_iter.total_scanned_count)
        walked += got
        start = result.last_evaluated_key
        if start is None:
            return LedgerPage([], False, read, walked)
    result = LedgerEntry.by_user_time.query(user_id, range_key_condition=condition, filter_condition=kind_filter,
                                            scan_index_forward=False, last_evaluated_key=start, limit=limit + 1,
                                            page_size=limit + 1)
    items = [_row(item) for item in result]
    read += int(result.page_iter.total_scanned_count)
    return LedgerPage(items[:limit], len(items) > limit, read, walked)


def user_rows(user_id: int, *, start_ms: int | None, end_ms: int | None,
              kinds: tuple[str, ...] | None) -> list[LedgerRow]:
    """Every entry of the user in the window (the stat: a sum over the window, as new-api's SUM)."""
    return [_row(item) for item in LedgerEntry.by_user_time.query(
        user_id, range_key_condition=_range(start_ms, end_ms), filter_condition=_kinds(kinds))]


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _day_keys(start_ms: int, end_ms: int) -> Any:
    """Every user's entry keys in [start_ms, end_ms], newest first, one day's Query at a time (lazily)."""
    day_ms = end_ms - end_ms % DAY_MS
    while day_ms + DAY_MS > start_ms:
        day = _day(day_ms)
        yield from LedgerEntry.by_day.query(day, range_key_condition=LedgerEntry.at_ms.between(start_ms, end_ms),
                                            scan_index_forward=False)
        day_ms -= DAY_MS


def all_page(offset: int, limit: int, *, start_ms: int, end_ms: int,
             kinds: tuple[str, ...] | None = None) -> LedgerPage:
    """Rows offset+1 .. offset+limit of every user's entries in the window, newest first (admin).

    The by_day index holds keys only (it carries no kind): a kind filter is applied on the fetched items,
    so a filtered page may hold fewer than `limit` rows; docs/usage-log.md.
    """
    keys: list[tuple[int, str]] = []
    walked = 0
    more = False
    for item in _day_keys(start_ms, end_ms):
        if walked < offset:
            walked += 1
            continue
        if len(keys) == limit:
            more = True
            break
        keys.append((int(item.user_id), str(item.entry)))
    fetched = {(int(i.user_id), str(i.entry)): i for i in LedgerEntry.batch_get(keys)} if keys else {}
    rows = [_row(fetched[key]) for key in keys if key in fetched]
    if kinds:
        rows = [row for row in rows if row.kind in kinds]
    return LedgerPage(rows, more, walked + len(keys) + int(more), walked)


def all_rows(*, start_ms: int, end_ms: int, kinds: tuple[str, ...] | None) -> list[LedgerRow]:
    """Every user's entries in the window (the admin stat: a sum over the window, as new-api's SUM)."""
    keys = [(int(item.user_id), str(item.entry)) for item in _day_keys(start_ms, end_ms)]
    rows = [_row(item) for item in LedgerEntry.batch_get(keys)] if keys else []
    return [row for row in rows if not kinds or row.kind in kinds]
