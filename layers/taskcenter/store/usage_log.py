"""The usage log's reads of the ledger (services/usage_log, docs/usage-log.md): Queries on a key, never a scan.

- one user's entries: the `by_user_time` index (user_id, at_ms, all attributes), newest first;
- every user's entries (admin): the `by_day` index (day, at_ms; keys only), one Query per day walked newest
  first, then one BatchGetItem for the page's items.
The stat's edge hours and its last 60 s (charged_user, charged_admin, count_user, count_admin) read the same way,
bounded by the stretch they are asked for.
A page is read from the top of the hour that holds its first row (services/usage_log/window.py finds it from
the hour buckets, store/usage_log_counts.py): the rows walked over are that hour's, never the log's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
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
    read: int = 0  # ledger items the requests evaluated (index entries scanned, items fetched)
    skipped: int = 0  # rows walked over inside the page's first hour to reach its first row


def _row(item: LedgerEntry) -> LedgerRow:
    return LedgerRow(int(item.user_id), str(item.entry), str(item.kind), int(item.amount),
                     str(item.task_id or ""), int(item.at_ms), str(item.note or ""))


def _kinds(kinds: tuple[str, ...] | None) -> Any:
    return LedgerEntry.kind.is_in(*kinds) if kinds else None


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


# ---------------------------------------------------------------- window reads (services/usage_log/window.py)
KEYS = ["user_id", "entry", "at_ms"]
PREFIX_KIND = {"charge#": "charge", "refund#": "refund", "credit#": "credit"}


def oldest_ms(user_id: int) -> int | None:
    """The time of the user's oldest entry (one index entry read): where a window without a start begins."""
    for item in LedgerEntry.by_user_time.query(user_id, scan_index_forward=True, limit=1, page_size=1,
                                               attributes_to_get=KEYS):
        return int(item.at_ms)
    return None


def count_user(user_id: int, low_ms: int, high_ms: int, kinds: tuple[str, ...] | None) -> tuple[int, int]:
    """(matching entries, index entries read) of the user in [low_ms, high_ms]: a COUNT Query (an edge hour)."""
    result = LedgerEntry.by_user_time.query(user_id, range_key_condition=LedgerEntry.at_ms.between(low_ms, high_ms),
                                            filter_condition=_kinds(kinds), attributes_to_get=KEYS)
    n = sum(1 for _ in result)
    return n, int(result.page_iter.total_scanned_count)


def charged_user(user_id: int, low_ms: int, high_ms: int) -> tuple[int, int]:
    """(the user's charges' amounts, index entries read) in [low_ms, high_ms]: an edge hour of the stat's quota."""
    result = LedgerEntry.by_user_time.query(user_id, range_key_condition=LedgerEntry.at_ms.between(low_ms, high_ms),
                                            filter_condition=_kinds(("charge",)), attributes_to_get=[*KEYS, "amount"])
    amount = sum(int(item.amount) for item in result)
    return amount, int(result.page_iter.total_scanned_count)


def user_window_page(user_id: int, top_ms: int, low_ms: int, skip: int, limit: int,
                     kinds: tuple[str, ...] | None) -> LedgerPage:
    """`limit` rows of the user newest first from `top_ms` down to `low_ms`, after `skip` matching rows (the
    rows of the page's first hour above it: keys only)."""
    condition, kind_filter = LedgerEntry.at_ms.between(low_ms, top_ms), _kinds(kinds)
    start: Any = None
    read = walked = 0
    while walked < skip:  # at most 1 MB of keys per Query; stays inside one hour (the caller's bucket)
        result = LedgerEntry.by_user_time.query(user_id, range_key_condition=condition, filter_condition=kind_filter,
                                                scan_index_forward=False, last_evaluated_key=start,
                                                limit=skip - walked, attributes_to_get=KEYS)
        walked += sum(1 for _ in result)
        read += int(result.page_iter.total_scanned_count)
        start = result.last_evaluated_key
        if start is None:
            return LedgerPage([], read, walked)
    result = LedgerEntry.by_user_time.query(user_id, range_key_condition=condition, filter_condition=kind_filter,
                                            scan_index_forward=False, last_evaluated_key=start, limit=limit,
                                            page_size=limit)
    rows = [_row(item) for item in result]
    return LedgerPage(rows, read + int(result.page_iter.total_scanned_count), walked)


class _Reads:
    def __init__(self) -> None:
        self.n = 0


def _admin_keys(top_ms: int, low_ms: int, kinds: tuple[str, ...] | None, reads: _Reads, want: int | None = None
                ) -> Iterator[tuple[int, str]]:
    """Every user's entry keys in [low_ms, top_ms] of these kinds, newest first (by_day: one Query per day). The
    index holds keys only: a kind comes from the entry's prefix, a settlement's (`settle#`) from its item.
    `want`: how many keys the caller takes (each request reads that many, not a whole day's 1 MB)."""
    day_ms = top_ms - top_ms % DAY_MS
    page_size = min(max(want, 1), 1000) if want is not None else None
    while day_ms + DAY_MS > low_ms:
        result = LedgerEntry.by_day.query(_day(day_ms), range_key_condition=LedgerEntry.at_ms.between(low_ms, top_ms),
                                          scan_index_forward=False, page_size=page_size)
        for item in result:
            reads.n += 1
            key = (int(item.user_id), str(item.entry))
            if not kinds or _kind_of(key, reads) in kinds:
                yield key
        day_ms -= DAY_MS


def _kind_of(key: tuple[int, str], reads: _Reads) -> str:
    for prefix, kind in PREFIX_KIND.items():
        if key[1].startswith(prefix):
            return kind
    reads.n += 1
    return str(LedgerEntry.get(*key).kind)


def count_admin(low_ms: int, high_ms: int, kinds: tuple[str, ...] | None) -> tuple[int, int]:
    """(matching entries, ledger items read) of every user in [low_ms, high_ms] (an edge hour)."""
    reads = _Reads()
    n = sum(1 for _ in _admin_keys(high_ms, low_ms, kinds, reads))
    return n, reads.n


def charged_admin(low_ms: int, high_ms: int) -> tuple[int, int]:
    """(every user's charges' amounts, ledger items read) in [low_ms, high_ms] (an edge hour): the by_day keys,
    then one BatchGetItem per 100 for their amounts (the index holds keys only)."""
    reads = _Reads()
    keys = list(_admin_keys(high_ms, low_ms, ("charge",), reads))
    items = list(LedgerEntry.batch_get(keys, attributes_to_get=[*KEYS, "amount"])) if keys else []
    return sum(int(item.amount) for item in items), reads.n + len(items)


def admin_window_page(top_ms: int, low_ms: int, skip: int, limit: int, kinds: tuple[str, ...] | None) -> LedgerPage:
    """As user_window_page over every user: keys walked, then one BatchGetItem for the page's items."""
    reads = _Reads()
    keys: list[tuple[int, str]] = []
    walked = 0
    for key in _admin_keys(top_ms, low_ms, kinds, reads, want=skip + limit):
        if walked < skip:
            walked += 1
            continue
        keys.append(key)
        if len(keys) == limit:
            break
    fetched = {(int(i.user_id), str(i.entry)): i for i in LedgerEntry.batch_get(keys)} if keys else {}
    rows = [_row(fetched[key]) for key in keys if key in fetched]
    return LedgerPage(rows, reads.n + len(fetched), walked)
