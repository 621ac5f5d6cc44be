"""The dashboard's default time window (today 00:00 local to now + 1 h, recomputed by every request:
../shared/reference/newapi-relay-wire.md 4.2) pages at the cost of a listing without one: `total` from the
hour buckets (no COUNT over the day's rows), page cursors named by what they list, not by the moving end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.domain.listing_plan import BUCKET_MS, ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

from tests.integration.suno_support import write_tasks

MIDNIGHT = 472_222 * BUCKET_MS  # 22:00 UTC: 00:00 in UTC+2
SIZE = 6


@pytest.fixture
def day(world: Any) -> Iterator[list[Task]]:
    rows = [{"task_id": f"task_{i:04d}", "numeric_id": 1000 + i, "kind": "task", "platform": "suno",
             "user_id": world.user.user_id if i % 4 else world.other.user_id, "action": "MUSIC",
             "status": states.ALL_STATUSES[i % len(states.ALL_STATUSES)], "channel_id": 1 + i % 2,
             "submit_ms": MIDNIGHT - 30 * 60_000 + i * 50_000}  # from 21:30 (yesterday, local) on
            for i in range(1, 121)]
    tasks = write_tasks(rows)
    clock.set_now(MIDNIGHT + 125 * 50_000)
    try:
        yield tasks
    finally:
        clock.set_now(None)


def _oracle(tasks: list[Task], f: ListingFilters) -> list[str]:
    hits = sorted((t for t in tasks if listings.matches(t, f)), key=lambda t: (int(t.submit_ms), int(t.id)),
                  reverse=True)
    return [t.task_id for t in hits]


def _today(start_ms: int = MIDNIGHT, **filters: Any) -> ListingFilters:
    """What each dashboard request sends: the end recomputed from the clock (now + 1 h)."""
    clock.set_now(clock.now_ms() + 1000)
    return ListingFilters(kind="task", start_ms=start_ms, end_ms=clock.now_ms() + 3_600_000 + 999, **filters)


def test_default_window_pages_like_no_window(world: Any, day: list[Task]) -> None:
    tasks = day
    user = {"user_id": world.user.user_id}

    def page(p: int, **f: Any) -> list[str]:
        window = _today(**f)
        rows, total = listings.list_tasks(window, p, SIZE)
        expected = _oracle(tasks, window)
        assert total == len(expected) and [t.task_id for t in rows] == expected[(p - 1) * SIZE:p * SIZE]
        return [t.task_id for t in rows]

    page(1, **user)
    assert listings.last_stats.total_source == "buckets" and listings.last_stats.count_items == 0
    page(2, **user)  # next: from the row page 1 kept, although the window's end moved
    assert listings.last_stats.seek == "cursor" and listings.last_stats.count_items == 0
    page(3, **user)
    page(2, **user)  # previous: upwards from the row page 3 kept
    assert listings.last_stats.seek == "cursor"
    assert listings.last_stats.page_items == SIZE and listings.last_stats.seek_items == 0

    # A task arrives (submitted now, inside the window): the kept rows are one lower, still used (the
    # page starts one row above the one page 3 kept: one key walked).
    tasks += write_tasks([{"task_id": "task_new", "numeric_id": 9001, "kind": "task", "platform": "suno",
                           "user_id": world.user.user_id, "action": "MUSIC", "status": states.SUBMITTED,
                           "channel_id": 1, "submit_ms": clock.now_ms()}])
    page(4, **user)
    assert listings.last_stats.seek == "walk_from_cursor" and listings.last_stats.total_source == "buckets"
    assert listings.last_stats.page_items + listings.last_stats.seek_items == SIZE + 1

    # The last page: upwards from the oldest row of the window, nothing walked.
    total = len(_oracle(tasks, _today(**user)))
    page((total + SIZE - 1) // SIZE, **user)
    assert listings.last_stats.seek_items == 0 and listings.last_stats.count_items == 0

    # Admin, and admin + channel after a failover between requests: exact, from the buckets.
    page(1)
    assert listings.last_stats.total_source == "buckets"
    page(1, channel_id=2)
    moved = next(t for t in tasks if int(t.channel_id) == 1 and t.status not in states.TERMINAL
                 and int(t.submit_ms) >= MIDNIGHT)
    assert task_store.transition(moved, moved.status, channel_id=2)
    tasks = [t for t in tasks if t.task_id != moved.task_id] + [Task.get(moved.task_id)]
    page(1, channel_id=2)
    page(2, channel_id=1)
    assert listings.last_stats.total_source == "buckets"


def test_a_window_starting_inside_an_hour_counts_only_that_hours_rows(world: Any, day: list[Task]) -> None:
    """Midnight in UTC+5:30 falls at :30 past a UTC hour: the rows of that hour before it are counted and
    taken off the hour's bucket, never the rows of the whole window."""
    start = MIDNIGHT + 30 * 60_000
    for f in ({"user_id": world.user.user_id}, {}, {"channel_id": 1}):
        window = _today(start_ms=start, **f)
        rows, total = listings.list_tasks(window, 1, SIZE)
        assert total == len(_oracle(day, window)) and listings.last_stats.total_source == "buckets"
        in_hour_before = [t for t in day if MIDNIGHT <= int(t.submit_ms) < start
                          and listings.matches(t, ListingFilters(kind="task", **f))]
        assert listings.last_stats.count_items == len(in_hour_before) > 0

    # A closed window (an end before now, inside an hour): that hour's rows after the end are taken off.
    closed = ListingFilters(kind="task", user_id=world.user.user_id, start_ms=MIDNIGHT, end_ms=MIDNIGHT + 5_400_000)
    rows, total = listings.list_tasks(closed, 1, SIZE)
    assert total == len(_oracle(day, closed)) and [t.task_id for t in rows] == _oracle(day, closed)[:SIZE]
