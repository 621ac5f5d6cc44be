"""Generic listing executor for every dashboard and API listing (docs/listing.md).

    tasks, total = list_tasks(ListingFilters(kind="task", user_id=7, status="SUCCESS"), page=1, page_size=20)

`taskcenter.domain.listing.plan_listing` picks the one GSI and key condition that serve the filters;
this module runs it with `Limit`, so a page reads about `page_size` items whatever the table size:

- `task_id` given: one GetItem, checked against every other filter (ownership included).
- `total`: the counters moved in the same transactions as the tasks (1 item for a user scope, 4
  shards for an admin scope), when the filters allow (`plan.counter_scope`); otherwise (a time range,
  or a filter the index cannot express) a COUNT query over the same key range, kept for the next
  pages while the scope's counter is unchanged (LISTING_TOTAL_CACHE_SECONDS, default 120).
- A filter implied by the scope (platform under an action or a channel) is checked on one item of
  the scope instead of filtering every row: the scope is either all of that platform or none of it.
- Page p > 1: DynamoDB cannot skip. The start key of each next page is remembered when a page is
  served (`store.page_cursors`, with the total it was computed under), so sequential paging reads
  ~page_size items per page. A cursor whose list has grown only by newer tasks at the top is moved
  up by that many keys; otherwise (no cursor, or the list changed under it) the executor walks the
  keys (keys only) from the nearer of: the newest end, the oldest end, or an anchor cursor (kept every
  ANCHOR_EVERY rows by earlier walks), and the benchmark reports that cost.
- A page past the end reads no task at all (the total says it is empty).

The signature of `list_tasks` is shared by the dashboards, the Midjourney listings and Task API v1.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing import ListingFilters, ListingPlan, counter_names_for_read, plan_listing
from taskcenter.store import counters, page_cursors
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_SHIFT = 200  # a cursor is moved up by at most this many newer tasks; beyond, walk the keys
WALK_PAGE = 1000  # keys per request when walking to a deep offset
ANCHOR_EVERY = 1000  # a walk from the top keeps a cursor every this many rows

# Under these scopes every task has the same platform (an action belongs to one platform, a
# channel to one type): a platform filter there is all-or-nothing, checked on one item.
_PLATFORM_IMPLIED = frozenset({"lua", "lga", "lgc", "lgca"})
# Scopes whose rows only ever enter at the newest end (a channel listing also gains failed-over
# tasks in the middle, so its cursors are not moved, only reused when the total is unchanged).
_GROWS_AT_TOP = frozenset({"lu", "lup", "lua", "lud", "lg", "lgp", "lga"})


@dataclass
class ListingStats:
    """What the last call cost (for the benchmark and logs): task items read, by purpose."""

    page_items: int = 0
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
    if empty:
        return [], 0
    total = _total(plan, stats)
    offset = (page - 1) * page_size
    if offset and offset >= total:
        stats.seek = "past_end"
        return [], total
    start_key = _start_key(plan, offset, total, stats)
    if offset and start_key is None:
        return [], total  # fewer rows than the offset (the list shrank while we looked)
    items = _read_page(plan, start_key, page_size, stats)
    if offset == 0 and len(items) > total:
        # The first page is always read, so rows are never hidden by a total that lags the index.
        total = len(items)
    if len(items) == page_size and offset + page_size < total:
        page_cursors.save(_digest(plan), offset + page_size, page_cursors.Cursor(_key_of(plan, items[-1]), total))
        stats.cursor_writes += 1
    return items, total


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
def _index(plan: ListingPlan) -> Any:
    return getattr(Task, plan.index_name)


def _range_condition(plan: ListingPlan) -> Any:
    attr = getattr(Task, plan.range_attr)
    if plan.range_prefix is not None:
        return attr.startswith(plan.range_prefix)
    if plan.range_low is not None and plan.range_high is not None:
        return attr.between(plan.range_low, plan.range_high)
    if plan.range_low is not None:
        return attr >= plan.range_low
    if plan.range_high is not None:
        return attr <= plan.range_high
    return None


def _filter_condition(plan: ListingPlan) -> Any:
    condition = None
    for name, value in sorted(plan.post_filters.items()):
        term = getattr(Task, name) == value
        condition = term if condition is None else condition & term
    return condition


def _key_names(plan: ListingPlan) -> list[str]:
    return ["task_id", plan.hash_attr, plan.range_attr]


def _key_of(plan: ListingPlan, task: Task) -> dict[str, dict[str, str]]:
    return {name: {"S": str(getattr(task, name))} for name in _key_names(plan)}


def _digest(plan: ListingPlan) -> str:
    """Identifies the ordered row set of a listing (not the page size: cursors are kept by offset)."""
    raw = json.dumps([plan.index_name, plan.hash_value, plan.range_low, plan.range_high, plan.range_prefix,
                      sorted((k, str(v)) for k, v in plan.post_filters.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _resolve_implied_filters(plan: ListingPlan, f: ListingFilters, stats: ListingStats) -> tuple[ListingPlan, bool]:
    """Drop a platform filter the scope implies, after checking it on one row. Returns (plan, empty)."""
    if plan.hash_attr not in _PLATFORM_IMPLIED or "platform" not in plan.post_filters:
        return plan, False
    probe = list(_index(plan).query(plan.hash_value, limit=1, page_size=1, attributes_to_get=["task_id", "platform"]))
    stats.probe_items += len(probe)
    if not probe or probe[0].platform != plan.post_filters["platform"]:
        return plan, True
    post = {k: v for k, v in plan.post_filters.items() if k != "platform"}
    has_time = f.start_ms is not None or f.end_ms is not None
    counter_scope = (plan.hash_attr, plan.hash_value) if not post and not has_time else None
    from dataclasses import replace

    return replace(plan, post_filters=post, counter_scope=counter_scope), False


def _total(plan: ListingPlan, stats: ListingStats) -> int:
    if plan.counter_scope is not None:
        names = counter_names_for_read(plan.counter_scope[0], plan.counter_scope[1], plan.counter_status)
        stats.total_source = "counters"
        stats.counter_items += len(names)
        return max(0, counters.read_sum(names))
    # A time range (or a filter the index cannot express): count the key range (no items returned),
    # and keep the count while the scope's counter (the same transactions move it) stays the same, so
    # the next pages of the same listing do not count again.
    names = counter_names_for_read(plan.hash_attr, plan.hash_value, plan.counter_status)
    stats.counter_items += len(names)
    scope_version = counters.read_sum(names)
    digest = _digest(plan)
    cached = page_cursors.load_total(digest, scope_version)
    stats.cursor_reads += 1
    if cached is not None:
        stats.total_source = "count_cached"
        return cached
    stats.total_source = "count"
    result = int(Task.count(plan.hash_value, range_key_condition=_range_condition(plan),
                            filter_condition=_filter_condition(plan), index_name=plan.index_name))
    stats.count_items += result
    page_cursors.save_total(digest, scope_version, result)
    stats.cursor_writes += 1
    return result


def _start_key(plan: ListingPlan, offset: int, total: int, stats: ListingStats) -> dict[str, Any] | None:
    if offset == 0:
        stats.seek = "first"
        return None
    digest = _digest(plan)
    anchor_at = ((offset - 1) // ANCHOR_EVERY) * ANCHOR_EVERY  # the anchor at or above the page
    wanted = [offset] + ([anchor_at] if 0 < anchor_at < offset else [])
    kept = page_cursors.load_many(digest, wanted)  # one request for the page's cursor and its anchor
    stats.cursor_reads += 1
    key = _usable(plan, digest, offset, kept.get(offset), total, stats)
    if key is not None:
        return key
    from_end = total - offset + 1
    anchor = _usable(plan, digest, anchor_at, kept.get(anchor_at), total, stats) \
        if anchor_at in kept and offset - anchor_at < from_end else None
    walked = None
    if anchor is not None:
        stats.seek = "walk_from_anchor"
        walked = _walk_keys(plan, offset - anchor_at, stats, start=anchor, base=anchor_at, digest=digest, total=total)
    elif offset > total - offset:
        # Nearer the oldest end: walk up from there (row `offset` from the top is row total-offset+1 from
        # the bottom), so the last pages cost about what the first ones do.
        stats.seek = "walk_from_end"
        walked = _walk_keys(plan, from_end, stats, newest_first=False)
    if walked is None:
        stats.seek = "walk"
        walked = _walk_keys(plan, offset, stats, digest=digest, total=total)
    if walked is not None:
        page_cursors.save(digest, offset, page_cursors.Cursor(walked, total))
        stats.cursor_writes += 1
    return walked


def _usable(plan: ListingPlan, digest: str, offset: int, cursor: page_cursors.Cursor | None, total: int,
            stats: ListingStats) -> dict[str, Any] | None:
    """A kept cursor's start key if it still points at row `offset` (moved up when only new tasks arrived)."""
    if cursor is None:
        return None
    if cursor.total_at == total:
        stats.seek = "cursor"
        return cursor.start_key
    if (0 < total - cursor.total_at <= MAX_SHIFT and not plan.post_filters
            and plan.range_attr == "lt" and plan.hash_attr in _GROWS_AT_TOP):
        shifted = _shift_up(plan, cursor.start_key, total - cursor.total_at, stats)
        if shifted is not None:
            stats.seek = "shift"
            page_cursors.save(digest, offset, page_cursors.Cursor(shifted, total))
            stats.cursor_writes += 1
            return shifted
    return None


def _shift_up(plan: ListingPlan, start_key: dict[str, Any], newer: int, stats: ListingStats) -> dict[str, Any] | None:
    """`newer` tasks arrived at the top since the cursor was kept: the boundary moves up by as many rows."""
    rows = list(_index(plan).query(plan.hash_value, range_key_condition=_range_condition(plan),
                                   scan_index_forward=True, last_evaluated_key=start_key, limit=newer,
                                   page_size=newer, attributes_to_get=_key_names(plan)))
    stats.seek_items += len(rows)
    if len(rows) < newer:
        return None
    return _key_of(plan, rows[-1])


def _walk_keys(plan: ListingPlan, count: int, stats: ListingStats, *, newest_first: bool = True,
               start: dict[str, Any] | None = None, base: int = 0, digest: str = "", total: int = 0
               ) -> dict[str, Any] | None:
    """Read `count` keys after `start` (row `base`; None: from the newest end, or the oldest) and return
    the last one's key. None if there are fewer rows. Walking from the newest end keeps an anchor cursor
    every ANCHOR_EVERY rows (when `digest` is given), so a later jump starts near its page."""
    position = base
    remaining = count
    while remaining > 0:
        step = min(WALK_PAGE, remaining)  # never read past the offset (the last request is shortened)
        if newest_first and digest:
            step = min(step, ANCHOR_EVERY - position % ANCHOR_EVERY)  # stop on every anchor row
        rows = list(_index(plan).query(plan.hash_value, range_key_condition=_range_condition(plan),
                                       filter_condition=_filter_condition(plan), scan_index_forward=not newest_first,
                                       last_evaluated_key=start, limit=step, page_size=step,
                                       attributes_to_get=_key_names(plan)))
        stats.seek_items += len(rows)
        if len(rows) < step:
            return None  # fewer rows than the offset
        remaining -= len(rows)
        position += len(rows)
        start = _key_of(plan, rows[-1])
        if newest_first and digest and remaining > 0 and position % ANCHOR_EVERY == 0:
            page_cursors.save(digest, position, page_cursors.Cursor(start, total))
            stats.cursor_writes += 1
    return start


def _read_page(plan: ListingPlan, start_key: dict[str, Any] | None, page_size: int,
               stats: ListingStats) -> list[Task]:
    rows = _index(plan).query(plan.hash_value, range_key_condition=_range_condition(plan),
                              filter_condition=_filter_condition(plan), scan_index_forward=False,
                              last_evaluated_key=start_key, limit=page_size, page_size=page_size)
    items = list(rows)
    stats.page_items += rows.total_count if plan.post_filters else len(items)
    return items


# ---------------------------------------------------------------- request parsing shared by the surfaces
def parse_int(raw: str | None, name: str) -> int | None:
    """An optional integer query parameter; garbage is a clear 400."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if not (text.lstrip("-").isdigit() and len(text) <= 19):
        raise BadInput(f"{name} must be an integer, got {text[:40]!r}", field=name)
    return int(text)


def parse_paging(params: dict[str, str | None], *, default_page_size: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """(page, page_size) as new-api reads them: `p` (1-based; below 1 -> 1), `page_size` (aliases `ps`,
    `size`; missing or 0 -> the default; above MAX_PAGE_SIZE -> MAX_PAGE_SIZE). A negative page size or a
    non-numeric value cannot make sense: 400."""
    page = parse_int(params.get("p"), "p")
    size = None
    for alias in ("page_size", "ps", "size"):
        size = parse_int(params.get(alias), alias)
        if size:
            break
    if size is not None and size < 0:
        raise BadInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
    return max(1, page or 1), min(MAX_PAGE_SIZE, size or default_page_size)


def parse_time_range(params: dict[str, str | None], *, unit_ms: int = 1000,
                     names: tuple[str, str] = ("start_timestamp", "end_timestamp")) -> tuple[int | None, int | None]:
    """Optional (start_ms, end_ms), both inclusive, from timestamps in seconds (unit_ms=1000) or ms (1).

    0 or missing means no bound (as new-api). A non-number, a negative value, a seconds value that is
    clearly milliseconds, or start after end: 400.
    """
    out: list[int | None] = []
    for name in names:
        value = parse_int(params.get(name), name)
        if value is None or value == 0:
            out.append(None)
            continue
        if value < 0:
            raise BadInput(f"{name} must be a positive timestamp", field=name)
        limit = 10**11 if unit_ms == 1000 else 10**14
        if value >= limit:
            unit = "seconds" if unit_ms == 1000 else "milliseconds"
            raise BadInput(f"{name} is out of range (expected a Unix timestamp in {unit})", field=name)
        out.append(value * unit_ms)
    start_ms, end_ms = out
    if end_ms is not None:
        end_ms += unit_ms - 1  # the whole last second (submit_time <= end_timestamp, in the caller's unit)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise BadInput(f"{names[0]} is after {names[1]}", field=names[0])
    return start_ms, end_ms
