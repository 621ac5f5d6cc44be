"""Generic listing executor for every dashboard and API listing (docs/listing.md).

    tasks, total = list_tasks(ListingFilters(kind="task", user_id=7, status="SUCCESS"), page=1, page_size=20)

`taskcenter.domain.listing_plan.plan_listing` picks the one GSI and key condition that serve the filters;
this module runs it with `Limit`, so a page reads about `page_size` items whatever the table size:

- `task_id` given: one GetItem, checked against every other filter (ownership included).
- `total`: the counters moved in the same transactions as the tasks (1 item for a user scope, 4
  shards for an admin scope), when the filters allow (`plan.counter_scope`); otherwise (a time range,
  or a filter the index cannot express) a COUNT query over the same key range, kept for the next
  pages while no task enters or leaves the scope (LISTING_TOTAL_CACHE_SECONDS, default 120).
- A filter implied by the scope (platform under an action or a channel) is checked on one item of
  the scope instead of filtering every row: the scope is either all of that platform or none of it.
- Page p > 1: DynamoDB cannot skip. Every served page keeps its first and last rows' keys
  (`store.page_cursors`, by row number, with the total they were counted under); a page is then read
  from the cheapest known position: a kept row at, above or below it (the next and the previous page
  read exactly their rows; a page within NEAR_PAGES pages walks the keys in between), an anchor a walk
  kept (every ANCHOR_EVERY rows), or either end of the list (the last pages are read upwards from the
  oldest row). A kept row is trusted while no task entered or left its scope (the counters' change
  count); in a list that only grows at the top (time-sorted scopes but the channel ones) also after new
  tasks arrived: it is as many rows lower as the listing gained. The benchmark reports each way's cost.
- A page past the end reads no task at all (the total says it is empty).

The signature of `list_tasks` is shared by the dashboards, the Midjourney listings and Task API v1.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from taskcenter import clock
from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_plan import (
    ADMIN_COUNTER_SHARDS,
    ADMIN_SCOPES,
    ListingFilters,
    ListingPlan,
    WindowBuckets,
    bucket_names_for_read,
    bucket_window,
    counter_names_for_read,
    plan_listing,
    window_buckets,
)
from taskcenter.services.core.listing_params import (  # noqa: F401 - the surfaces read them from here
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    parse_int,
    parse_paging,
    parse_time_range,
)
from taskcenter.store import counters, page_cursors
from taskcenter.store import listing_reads as reads
from taskcenter.store import tasks as task_store
from taskcenter.store.counters import ScopeCount

if TYPE_CHECKING:
    from taskcenter.store.models import Task

WALK_PAGE = 1000  # keys per request when walking to a deep offset
ANCHOR_EVERY = 1000  # a walk keeps a cursor on every row that is a multiple of this
NEAR_PAGES = 3  # kept cursors of up to this many pages before and after a page are candidates to start it

# Under these scopes every task has the same platform (an action belongs to one platform, a
# channel to one type): a platform filter there is all-or-nothing, checked on one item.
_PLATFORM_IMPLIED = frozenset({"lua", "lga", "lgc", "lgca"})
# Scopes whose rows only ever enter at the newest end (a channel listing also gains failed-over
# tasks in the middle, so its cursors are not moved, only reused when the total is unchanged).
_GROWS_AT_TOP = frozenset({"lu", "lup", "lua", "lud", "lg", "lgp", "lga"})


@dataclass
class ListingStats:
    """What the last call cost (for the benchmark and logs): task items read, by purpose."""

    page_items: int = 0  # index entries read for the page (a post filter's rejects included)
    item_reads: int = 0  # task items fetched for the page (one BatchGetItem of its keys)
    seek_items: int = 0  # keys read to reach the page (cursor shift or walk)
    count_items: int = 0  # rows counted by a COUNT query for total
    probe_items: int = 0
    counter_items: int = 0
    cursor_reads: int = 0
    cursor_writes: int = 0
    total_source: str = ""  # counters | count | get | probe
    seek: str = ""  # first | cursor | shift | walk | walk_from_end | walk_from_anchor | past_end


last_stats = ListingStats()


def list_tasks(filters: ListingFilters, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE, *,
               task_id: str | None = None) -> tuple[list[Task], int]:
    """One page of tasks matching `filters`, newest first, and the exact number of matching tasks.

    `page` is 1-based; `page_size` 1..MAX_PAGE_SIZE (callers clamp as their reference does).
    `task_id` narrows to one task (one GetItem); it is returned only if it matches every filter.
    """
    global last_stats
    last_stats = stats = ListingStats()
    if page < 1:
        raise BadInput("page must be >= 1", field="p")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
    if filters.start_ms is not None and filters.end_ms is not None and filters.start_ms > filters.end_ms:
        raise BadInput("start_timestamp is after end_timestamp", field="start_timestamp")

    if task_id is not None:
        stats.total_source = "get"
        task = task_store.get(task_id, consistent=False)
        stats.page_items = 1
        if task is None or not matches(task, filters):
            return [], 0
        return ([task] if page == 1 else []), 1

    plan = plan_listing(filters)
    plan, empty = _resolve_implied_filters(plan, filters, stats)
    now_ms = clock.now_ms()
    plan = replace(plan, open_end=filters.end_ms is not None and filters.end_ms >= now_ms)
    if empty:
        return [], 0
    total, scope = _total(plan, stats, now_ms)
    offset = (page - 1) * page_size
    if offset and offset >= total:
        stats.seek = "past_end"
        return [], total
    if offset == 0:
        stats.seek = "first"
        rows = _read_page(plan, None, page_size, stats)
    else:
        rows = _read_beyond_first_page(plan, offset, total, scope, page_size, stats)
    if offset == 0 and len(rows.keys) > total:
        # The first page is always read, so rows are never hidden by a total that lags the index.
        total = len(rows.keys)
    _keep_page_cursors(plan, offset, page_size, rows.keys, page_cursors.Cursor({}, total, scope), stats)
    return rows.items, total


def _keep_page_cursors(plan: ListingPlan, offset: int, page_size: int, keys: list[reads.Key],
                       now: page_cursors.Cursor, stats: ListingStats) -> None:
    """Keep the page's last row (the next page starts there) and, beyond page 1, its first row (the
    previous page is read upwards from there), with the listing's counts `now`: one BatchWrite. The keys
    are the index's (an item read since may already carry another status key)."""
    kept: dict[int, page_cursors.Cursor] = {}
    if len(keys) == page_size and offset + page_size < now.total_at:
        kept[offset + page_size] = replace(now, start_key=keys[-1])
    if offset and keys:
        kept[offset + 1] = replace(now, start_key=keys[0])
    if kept:
        page_cursors.save_many(_digest(plan), kept)
        stats.cursor_writes += len(kept)


def matches(task: Task, f: ListingFilters) -> bool:
    """Whether one task belongs to the listing `f` describes (the task_id filter's ownership check)."""
    submit_ms = int(task.submit_ms)
    return (
        task.kind == f.kind
        and (f.user_id is None or int(task.user_id) == int(f.user_id))
        and (f.platform is None or task.platform == f.platform)
        and (f.action is None or task.action == f.action)
        and (f.status is None or task.status == f.status)
        and (f.channel_id is None or int(task.channel_id or 0) == int(f.channel_id))
        and (f.serial is None or (task.serial or "") == f.serial)
        and (f.start_ms is None or submit_ms >= f.start_ms)
        and (f.end_ms is None or submit_ms <= f.end_ms)
    )


# ---------------------------------------------------------------- plan execution
_OPEN = "open"


def _digest(plan: ListingPlan) -> str:
    """Identifies the ordered row set of a listing (not the page size: cursors are kept by offset)."""
    # An open window (its end not past) lists the rows from its start on: the end is left out, so the
    # dashboard's window (today 00:00 to now + 1 h, recomputed by every request) names one listing all day.
    high = _OPEN if plan.open_end else plan.range_high
    raw = json.dumps([plan.index_name, plan.hash_value, plan.range_low, high, plan.range_prefix,
                      sorted((k, str(v)) for k, v in plan.post_filters.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _resolve_implied_filters(plan: ListingPlan, f: ListingFilters, stats: ListingStats) -> tuple[ListingPlan, bool]:
    """Drop a platform filter the scope implies, after checking it on one row. Returns (plan, empty)."""
    if plan.hash_attr not in _PLATFORM_IMPLIED or "platform" not in plan.post_filters:
        return plan, False
    probe = reads.probe(plan)
    stats.probe_items += probe is not None
    if probe is None or probe.platform != plan.post_filters["platform"]:
        return plan, True
    post = {k: v for k, v in plan.post_filters.items() if k != "platform"}
    has_time = f.start_ms is not None or f.end_ms is not None
    counter_scope = (plan.hash_attr, plan.hash_value) if not post and not has_time else None
    window = bucket_window(plan.hash_attr, post, f)
    return replace(plan, post_filters=post, counter_scope=counter_scope, window=window), False


def _total(plan: ListingPlan, stats: ListingStats, now_ms: int) -> tuple[int, ScopeCount]:
    """The listing's exact total, and its scope counter (total and change count: what kept cursors and
    counted totals are checked against)."""
    names = counter_names_for_read(plan.hash_attr, plan.hash_value, plan.counter_status)
    buckets = None
    if plan.window is not None:
        shards = ADMIN_COUNTER_SHARDS if plan.hash_attr in ADMIN_SCOPES else 1
        buckets = window_buckets(plan.window[0], plan.window[1], now_ms, shards)
    if buckets is not None:
        return _window_total(plan, names, buckets, stats)
    stats.counter_items += len(names)
    scope = counters.read_scope(names)
    if plan.counter_scope is not None:
        stats.total_source = "counters"
        return max(0, scope.total), scope
    # A time range (or a filter the index cannot express): count the key range (no items returned),
    # and keep the count while no task enters or leaves the scope (the same transactions move its
    # change count), so the next pages of the same listing do not count again.
    digest = _digest(plan)
    cached = page_cursors.load_total(digest, scope.changes)
    stats.cursor_reads += 1
    if cached is not None:
        stats.total_source = "count_cached"
        return cached, scope
    stats.total_source = "count"
    result = reads.count(plan)
    stats.count_items += result
    page_cursors.save_total(digest, scope.changes, result)
    stats.cursor_writes += 1
    return result, scope


def _window_total(plan: ListingPlan, names: list[str], buckets: WindowBuckets, stats: ListingStats
                  ) -> tuple[int, ScopeCount]:
    """A time window's total from the hour buckets (docs/listing.md, "A time window's total"): whole hours
    summed; a partial edge hour either from its bucket less its rows outside the window, or by its rows
    inside, whichever is the shorter stretch to count (none for a window starting on the hour and ending
    after now). The scope counter comes in the same BatchGetItem."""
    hours = bucket_names_for_read(plan.hash_attr, plan.hash_value, buckets.hours)
    read = counters.read_many(names + hours)
    stats.counter_items += len(names) + len(hours)
    scope = ScopeCount(sum(read[n].total for n in names if n in read), sum(read[n].changes for n in names if n in read))
    total = sum(read[n].total for n in hours if n in read)
    for sign, ranges in ((1, buckets.plus), (-1, buckets.minus)):
        for low, high in ranges:
            counted = reads.count_submitted(plan, low, high)
            stats.count_items += counted
            total += sign * counted
    stats.total_source = "buckets"
    return max(0, total), scope


# ---------------------------------------------------------------- reaching page p > 1
# A kept cursor names row N of a listing (N = rows above it + 1, counted from the newest): its index key.
# From row N, a descending Query reads rows N+1, N+2, ...; an ascending one reads rows N-1, N-2, ...
# The two ends are positions without a key: row 0 (above the newest) and row total+1 (below the oldest).
@dataclass(frozen=True)
class _Position:
    row: int
    key: dict[str, Any] | None
    name: str  # top | bottom | cursor (a page's row or an anchor a walk kept)


def _cursor_offsets(offset: int, page_size: int, total: int) -> list[int]:
    """Rows whose kept cursors could start this page cheaply: the pages around it (their first and last
    rows, which every served page keeps) and the two anchors around it."""
    wanted = [offset]
    for pages in range(-NEAR_PAGES, NEAR_PAGES + 1):
        wanted += [offset + pages * page_size, offset + pages * page_size + 1]
    above = (offset // ANCHOR_EVERY) * ANCHOR_EVERY
    wanted += [above, above + ANCHOR_EVERY]
    return [row for row in dict.fromkeys(wanted) if 0 < row <= total]


def _row_now(plan: ListingPlan, kept_at: int, cursor: page_cursors.Cursor, total: int, scope: ScopeCount
             ) -> int | None:
    """Where a kept cursor's row is now. No task entered or left the scope since: where it was. Only new
    tasks entered a list that grows at the top (time-sorted, no post filter): as many rows lower as the
    listing gained (0 for a time range that ends before them). Anything else: not trusted."""
    changed = scope.changes - cursor.scope.changes
    if changed == 0 and total == cursor.total_at:
        return kept_at
    only_added = changed > 0 and changed == scope.total - cursor.scope.total
    if only_added and not plan.post_filters and plan.range_attr == "lt" and plan.hash_attr in _GROWS_AT_TOP:
        return kept_at + (total - cursor.total_at)
    return None


def _reads_from(position: _Position, offset: int, last: int) -> int:
    """Rows read to serve rows offset+1..last starting at `position` (keys walked + the page)."""
    shown = last - offset
    if position.row <= offset:
        return offset - position.row + shown  # walk down to row `offset`, read the page down
    if position.row > last:
        return position.row - 1 - last + shown  # walk up to the page's last row, read the page up
    return position.row - offset + shown  # inside the page: walk up to row `offset`, read the page down


def _read_beyond_first_page(plan: ListingPlan, offset: int, total: int, scope: ScopeCount, page_size: int,
                            stats: ListingStats) -> reads.Page:
    """Rows offset+1..offset+page_size, reached from the cheapest known position (see docs/listing.md)."""
    digest = _digest(plan)
    wanted = _cursor_offsets(offset, page_size, total)
    kept = page_cursors.load_many(digest, wanted)  # one request for every candidate
    stats.cursor_reads += 1
    now = page_cursors.Cursor({}, total, scope)  # what cursors kept by this request record
    positions = [_Position(0, None, "top"), _Position(total + 1, None, "bottom")]
    for kept_at, cursor in kept.items():
        row = _row_now(plan, kept_at, cursor, total, scope)
        if row is not None and 0 < row <= total:
            positions.append(_Position(row, cursor.start_key, "cursor"))
    last = min(offset + page_size, total)
    # cheapest first; among equals a kept row before an end, then the nearest row (deterministic)
    best = min(positions, key=lambda p: (_reads_from(p, offset, last), p.name in ("top", "bottom"),
                                         abs(p.row - offset), p.row))
    stats.seek = _seek_label(best, offset, last)
    if best.row > last:
        # Below the page: walk up to its last row and read the page upwards (the last pages of a list cost
        # what the first ones do).
        start = best.key
        if best.row - 1 > last:
            start = _walk(plan, best.row - 1 - last, stats, start=start, row=best.row, newest_first=False,
                          digest=digest, now=now)
            if start is None:
                return _NO_ROWS
        page = reads.read_rows(plan, start, last - offset, newest_first=False)
        stats.page_items += page.scanned
        stats.item_reads += len(page.items)
        return reads.Page(page.items[::-1], page.keys[::-1], page.scanned)
    if best.row == offset:
        start = best.key
    elif best.row < offset:
        start = _walk(plan, offset - best.row, stats, start=best.key, row=best.row, newest_first=True,
                      digest=digest, now=now)
    else:
        start = _walk(plan, best.row - offset, stats, start=best.key, row=best.row, newest_first=False,
                      digest=digest, now=now)
    if start is None:
        return _NO_ROWS  # fewer rows than the offset (the list shrank while we looked)
    if best.row != offset:
        page_cursors.save(digest, offset, replace(now, start_key=start))
        stats.cursor_writes += 1
    return _read_page(plan, start, page_size, stats)


def _seek_label(best: _Position, offset: int, last: int) -> str:
    if best.name in ("top", "bottom"):
        return "walk" if best.name == "top" else "walk_from_end"
    if _reads_from(best, offset, last) == last - offset:
        return "cursor"  # the page starts right at a kept row: nothing walked
    return f"walk_from_{best.name}"


def _walk(plan: ListingPlan, count: int, stats: ListingStats, *, start: dict[str, Any] | None, row: int,
          newest_first: bool, digest: str, now: page_cursors.Cursor) -> dict[str, Any] | None:
    """Read `count` keys from position `row` (key `start`; None at either end) towards the older rows
    (`newest_first`) or the newer ones, and return the key where it stops; None if the rows run out.
    Passing a row that is a multiple of ANCHOR_EVERY keeps an anchor cursor there, so a later jump
    nearby starts close to its page."""
    step_sign = 1 if newest_first else -1
    remaining = count
    while remaining > 0:
        step = min(WALK_PAGE, remaining)  # never read past the target (the last request is shortened)
        to_anchor = (ANCHOR_EVERY - row % ANCHOR_EVERY) if newest_first else (row % ANCHOR_EVERY or ANCHOR_EVERY)
        step = min(step, to_anchor)  # stop on every anchor row
        rows = reads.read_keys(plan, start, step, newest_first=newest_first)
        stats.seek_items += len(rows)
        if len(rows) < step:
            return None
        remaining -= step
        row += step_sign * step
        start = reads.key_of(plan, rows[-1])
        if remaining > 0 and row % ANCHOR_EVERY == 0 and 0 < row <= now.total_at:
            page_cursors.save(digest, row, replace(now, start_key=start))
            stats.cursor_writes += 1
    return start


_NO_ROWS = reads.Page([], [], 0)


def _read_page(plan: ListingPlan, start_key: dict[str, Any] | None, page_size: int,
               stats: ListingStats) -> reads.Page:
    page = reads.read_rows(plan, start_key, page_size)
    stats.page_items += page.scanned  # rows evaluated, a post filter's rejects included
    stats.item_reads += len(page.items)
    return page
