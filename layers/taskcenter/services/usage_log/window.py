"""A usage-log window's exact total and the hour holding row N (docs/usage-log.md, "total" and "Any page").

The ledger's hour buckets (store/usage_log_counts.py, moved by the ledger's stream) count each scope's
entries per kind and hour. A window [start, end] is split as the task listings split theirs
(domain/listing_plan.window_buckets, docs/listing.md "total"): whole hours summed from the buckets, a
partial edge hour from its bucket less its rows outside the window or by its rows inside it, whichever
stretch is shorter. The same per-hour counts, newest first, say which hour holds row N and how many of that
hour's rows are above it: a page is read from the top of that hour, never walking the rows of the hours
before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskcenter.domain.listing_plan import BUCKET_MS, bucket_of, window_buckets
from taskcenter.store import usage_log, usage_log_counts

ALL_KINDS = usage_log_counts.KINDS


@dataclass(frozen=True)
class Scope:
    """One user's log (user_id) or every user's (None)."""

    user_id: int | None

    def day_items(self, days: set[int]) -> dict[int, list[str]]:
        if self.user_id is not None:
            return {day: [usage_log_counts.user_item(self.user_id, day)] for day in days}
        shards = range(usage_log_counts.ADMIN_SHARDS)
        return {day: [usage_log_counts.admin_item(s, day) for s in shards] for day in days}

    def count(self, low_ms: int, high_ms: int, kinds: tuple[str, ...] | None) -> tuple[int, int]:
        if self.user_id is not None:
            return usage_log.count_user(self.user_id, low_ms, high_ms, kinds)
        return usage_log.count_admin(low_ms, high_ms, kinds)

    def charged(self, low_ms: int, high_ms: int) -> tuple[int, int]:
        if self.user_id is not None:
            return usage_log.charged_user(self.user_id, low_ms, high_ms)
        return usage_log.charged_admin(low_ms, high_ms)

    def page(self, top_ms: int, low_ms: int, skip: int, limit: int,
             kinds: tuple[str, ...] | None) -> usage_log.LedgerPage:
        if self.user_id is not None:
            return usage_log.user_window_page(self.user_id, top_ms, low_ms, skip, limit, kinds)
        return usage_log.admin_window_page(top_ms, low_ms, skip, limit, kinds)


@dataclass
class WindowCount:
    start_ms: int
    high_ms: int  # the window's last instant that can hold a row (its end, or now + 1 h)
    hours: dict[int, int]  # epoch hour -> matching rows of the window in that hour (only hours with rows)
    counter_items: int = 0  # bucket items read
    ledger_items: int = 0  # ledger items the edge counts read

    @property
    def total(self) -> int:
        return sum(self.hours.values())

    def locate(self, offset: int) -> tuple[int, int] | None:
        """(top of the hour holding row offset + 1, rows of that hour above it), rows numbered newest first;
        None past the end."""
        above = 0
        for hour in sorted(self.hours, reverse=True):
            rows = self.hours[hour]
            if above + rows > offset:
                return min(self.high_ms, (hour + 1) * BUCKET_MS - 1), offset - above
            above += rows
        return None


def count_window(scope: Scope, start_ms: int, end_ms: int | None, now_ms: int,
                 kinds: tuple[str, ...] | None) -> WindowCount:
    """The window's rows per hour: its hours' buckets (one BatchGetItem per 100 day items) and the counted edges."""
    # shards=0: no cap on the hours; this log reads a day's 24 hours in one item, so a long window costs one
    # item per day (docs/usage-log.md) rather than the listing's per-hour items
    plan = window_buckets(start_ms, end_ms, now_ms, shards=0)
    assert plan is not None  # only a cap makes it None
    horizon = now_ms + BUCKET_MS
    high = end_ms if end_ms is not None and end_ms <= horizon else horizon
    days = {hour // usage_log_counts.HOURS_PER_DAY for hour in plan.hours}
    counted, items = usage_log_counts.hour_counts(scope.day_items(days), kinds or ALL_KINDS)
    out = WindowCount(start_ms, high, {h: counted[h] for h in plan.hours if counted.get(h)}, counter_items=items)
    for sign, ranges in ((1, plan.plus), (-1, plan.minus)):
        for low, edge_high in ranges:
            n, read = scope.count(low, edge_high, kinds)
            out.ledger_items += read
            hour = bucket_of(low)
            out.hours[hour] = out.hours.get(hour, 0) + sign * n
    out.hours = {h: n for h, n in out.hours.items() if n > 0}
    return out


@dataclass
class WindowQuota:
    quota: int  # the charges' amounts in the window (new-api's consume quota)
    counter_items: int = 0
    ledger_items: int = 0


def quota_window(scope: Scope, start_ms: int, end_ms: int | None, now_ms: int) -> WindowQuota:
    """The window's charged amount: whole hours summed from the buckets' `q` attributes, a partial edge hour
    from its bucket less the amounts outside the window or by the amounts inside it, as count_window splits it
    (the same plan: at most one hour's rows read per edge, whatever the log's length)."""
    plan = window_buckets(start_ms, end_ms, now_ms, shards=0)
    assert plan is not None  # only a cap makes it None
    days = {hour // usage_log_counts.HOURS_PER_DAY for hour in plan.hours}
    sums, items = usage_log_counts.hour_quotas(scope.day_items(days))
    out = WindowQuota(sum(sums.get(hour, 0) for hour in plan.hours), counter_items=items)
    for sign, ranges in ((1, plan.plus), (-1, plan.minus)):
        for low, high in ranges:
            amount, read = scope.charged(low, high)
            out.quota += sign * amount
            out.ledger_items += read
    return out


def read_page(scope: Scope, window: WindowCount, offset: int, limit: int,
              kinds: tuple[str, ...] | None) -> usage_log.LedgerPage:
    """Rows offset + 1 .. offset + limit of the window, read from the top of the hour holding the first."""
    where = window.locate(offset)
    if where is None:
        return usage_log.LedgerPage([])
    top, skip = where
    return scope.page(top, window.start_ms, skip, limit, kinds)
