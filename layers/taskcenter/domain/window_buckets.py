"""Time buckets of a window's total (docs/listing.md, "A time window's total"; docs/usage-log.md): which
whole hours a window sums and which partial edge hours it counts. Shared by the task listing's counters
(domain/listing_plan.py) and the usage log's (store/usage_log_counts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

BUCKET_MS = 3_600_000
# A window needing more bucket items than this (a user's window of over 16 days, an admin's of over 4)
# is counted instead (a COUNT query, kept while valid): 4 BatchGetItem requests at most.
MAX_BUCKET_ITEMS = 400


def bucket_of(ms: int) -> int:
    return ms // BUCKET_MS


@dataclass(frozen=True)
class WindowBuckets:
    """How a window's total is read: the hours `hours` summed, plus the rows counted in `plus`, minus the
    rows counted in `minus` (inclusive ms ranges, each within one partial edge hour)."""

    hours: tuple[int, ...]
    plus: tuple[tuple[int, int], ...] = ()
    minus: tuple[tuple[int, int], ...] = ()


def _rows_span(low: int, high: int, now_ms: int) -> int:
    """How long a stretch of submit times holds rows (none after now): what a COUNT of it roughly reads."""
    return max(0, min(high, now_ms) - low + 1)


def window_buckets(start_ms: int, end_ms: int | None, now_ms: int, shards: int = 1) -> WindowBuckets | None:
    """The buckets and edge counts that total [start_ms, end_ms]; None when that takes more than
    MAX_BUCKET_ITEMS counter items.

    A partial edge hour is either read from its bucket with its rows outside the window counted and taken off,
    or left out with its rows inside the window counted, whichever stretch is shorter (rows only exist up to
    now: the end edge of a window reaching past now costs nothing). An end more than one hour ahead of
    `now_ms` (or none) stops at the hour of now + 1 h: no task is submitted later than now (the submit time
    is the server's clock when the task is written; docs/listing.md).
    """
    horizon = now_ms + BUCKET_MS
    end = end_ms if end_ms is not None and end_ms <= horizon else None
    high = horizon if end is None else end
    first, last = bucket_of(start_ms), bucket_of(high)
    if last < first:
        return WindowBuckets(())
    if (last - first + 1) * shards > MAX_BUCKET_ITEMS:
        return None
    hours = set(range(first, last + 1))
    plus: list[tuple[int, int]] = []
    minus: list[tuple[int, int]] = []
    before = (first * BUCKET_MS, start_ms - 1)  # the first hour's rows before the window
    after = (high + 1, (last + 1) * BUCKET_MS - 1) if end is not None else (0, -1)  # the last hour's after it
    if first == last:
        outside = _rows_span(*before, now_ms) + _rows_span(*after, now_ms)
        if _rows_span(start_ms, high, now_ms) < outside:
            return WindowBuckets((), plus=((start_ms, high),))
        return WindowBuckets((first,), minus=tuple(r for r in (before, after) if r[0] <= r[1]))
    if before[0] <= before[1]:
        inside = (start_ms, (first + 1) * BUCKET_MS - 1)
        if _rows_span(*inside, now_ms) < _rows_span(*before, now_ms):
            hours.discard(first)
            plus.append(inside)
        else:
            minus.append(before)
    if after[0] <= after[1]:
        inside = (last * BUCKET_MS, high)
        if _rows_span(*inside, now_ms) < _rows_span(*after, now_ms):
            hours.discard(last)
            plus.append(inside)
        else:
            minus.append(after)
    return WindowBuckets(tuple(sorted(hours)), tuple(plus), tuple(minus))
