"""GET /api/task/self and GET /api/task/: every filter against an oracle, paging, bad parameters,
ownership and admin role, deep pages and lists that change between pages."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

import pytest
from taskcenter.domain import states
from taskcenter.domain.listing_plan import ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.store import tasks as task_store
from taskcenter.store import v1_records
from taskcenter.store.models import Task

from tests.integration.suno_support import listing, write_tasks

BASE_MS = 1_700_000_000_000
# new-api's TaskDto without the two keys left out when empty (result_url: no failure; username: admin only)
USER_FIELDS = {"id", "created_at", "updated_at", "task_id", "platform", "user_id", "group", "channel_id", "quota",
               "action", "status", "fail_reason", "submit_time", "start_time", "finish_time", "progress",
               "properties", "data"}


def _dataset(world: Any, n: int = 90, seed: int = 3) -> list[Task]:
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        platform = rng.choice(["suno", "suno", "tikmatrix"])
        action = rng.choice(["MUSIC", "LYRICS"]) if platform == "suno" else rng.choice(["post", "follow"])
        channel = rng.choice([1, 2]) if platform == "suno" else 3
        owner = world.user if i % 3 else world.other
        rows.append({
            "task_id": f"task_{i:04d}", "numeric_id": 1000 + i, "kind": "task", "platform": platform,
            "user_id": owner.user_id, "username": owner.username, "action": action,
            "status": rng.choice(states.ALL_STATUSES), "channel_id": channel,
            "quota": 100 * i, "submit_ms": BASE_MS + i * 60_000 + rng.randrange(1000),
            "properties": {"input": f"p{i}", "_submit": {"payload": {"secret": True}}},
        })
    rows.append({**rows[0], "task_id": "mj_0001", "numeric_id": 5000, "kind": "mj", "platform": "midjourney",
                 "action": "IMAGINE"})  # another listing family: never in /api/task
    return write_tasks(rows)


def _oracle(tasks: list[Task], filters: ListingFilters, task_id: str | None = None) -> list[str]:
    hits = [t for t in tasks if listings.matches(t, filters) and (task_id is None or t.task_id == task_id)]
    hits.sort(key=lambda t: (int(t.submit_ms), int(t.id)), reverse=True)
    return [t.task_id for t in hits]


def _all_pages(client: Any, account: Any, params: dict[str, Any], *, admin: bool, page_size: int = 13
               ) -> tuple[list[str], int, list[dict[str, Any]]]:
    ids: list[str] = []
    items: list[dict[str, Any]] = []
    total = -1
    page = 1
    while True:
        status, body = listing(client, account, urlencode({**params, "p": page, "page_size": page_size}), admin=admin)
        assert status == 200 and body["success"] is True and body["message"] == "", (params, body)
        data = body["data"]
        assert data["page"] == page and data["page_size"] == page_size
        assert total in (-1, data["total"])
        total = data["total"]
        assert len(data["items"]) <= page_size
        ids += [i["task_id"] for i in data["items"]]
        items += data["items"]
        if not data["items"] or len(ids) >= total:
            return ids, total, items
        page += 1


def _filters(params: dict[str, Any], user_id: int | None) -> tuple[ListingFilters, str | None]:
    start = params.get("start_timestamp")
    end = params.get("end_timestamp")
    action = params.get("action")
    action = {"music": "MUSIC", "lyrics": "LYRICS"}.get(action.lower(), action) if action else None
    return ListingFilters(
        kind="task", user_id=user_id, platform=params.get("platform"), action=action,
        status=params.get("status", "").upper() or None,
        channel_id=int(params["channel_id"]) if params.get("channel_id") else None,
        start_ms=int(start) * 1000 if start else None, end_ms=int(end) * 1000 + 999 if end else None,
    ), params.get("task_id")


def test_every_filter_user_and_admin_matches_the_oracle(client: Any, world: Any) -> None:
    tasks = _dataset(world, n=60)
    mid = (BASE_MS + 30 * 60_000) // 1000
    own = next(t for t in tasks if int(t.user_id) == world.user.user_id and t.kind == "task")
    others = next(t for t in tasks if int(t.user_id) == world.other.user_id)
    cases: list[dict[str, Any]] = [
        {},
        {"platform": "suno"}, {"platform": "tikmatrix"}, {"platform": "nope"},
        {"action": "MUSIC"}, {"action": "lyrics"}, {"action": "post"},
        {"status": "SUCCESS"}, {"status": "failure"}, {"status": "UNKNOWN"},
        {"start_timestamp": mid}, {"end_timestamp": mid}, {"start_timestamp": mid - 1200, "end_timestamp": mid + 600},
        {"platform": "suno", "action": "MUSIC"}, {"platform": "tikmatrix", "action": "MUSIC"},
        {"action": "LYRICS", "status": "SUCCESS"}, {"platform": "suno", "status": "QUEUED"},
        {"platform": "suno", "status": "IN_PROGRESS", "start_timestamp": mid - 1800, "end_timestamp": mid + 1800},
        {"action": "MUSIC", "end_timestamp": mid},
        {"task_id": own.task_id}, {"task_id": others.task_id}, {"task_id": "task_missing"},
        {"task_id": own.task_id, "status": own.status},
        {"task_id": own.task_id, "platform": "tikmatrix" if own.platform == "suno" else "suno"},
        {"task_id": "mj_0001"},
    ]
    # The admin listing: the same planner with admin scopes (a subset: moto's serializer is slow per item).
    admin_cases = [cases[i] for i in (0, 1, 3, 5, 8, 12, 14, 15, 18, 20, 24)] + [
        {"channel_id": 1}, {"channel_id": 3}, {"channel_id": 9}, {"channel_id": 0},
        {"channel_id": 2, "action": "MUSIC"}, {"channel_id": 2, "platform": "suno"},
        {"channel_id": 2, "action": "music", "status": "SUCCESS"}, {"channel_id": 3, "action": "post"},
        {"channel_id": 1, "action": "LYRICS", "platform": "suno", "start_timestamp": mid - 1800},
        {"channel_id": 1, "action": "LYRICS", "platform": "tikmatrix"}, {"channel_id": 3, "action": "MUSIC"},
        {"channel_id": 2, "platform": "tikmatrix"}, {"channel_id": 1, "status": "SUCCESS"},
        {"channel_id": 1, "start_timestamp": mid},
    ]
    for params in cases:
        filters, task_id = _filters(params, world.user.user_id)
        ids, total, items = _all_pages(client, world.user, params, admin=False)
        expected = _oracle(tasks, filters, task_id)
        assert ids == expected and total == len(expected), params
        assert all(int(t["user_id"]) == world.user.user_id for t in items)
        for item in items:
            assert set(item) - {"result_url"} == USER_FIELDS and "_submit" not in item["properties"]
            assert item["channel_id"] == 0 and item.get("result_url", item["fail_reason"]) == item["fail_reason"]
    for params in admin_cases:
        filters, task_id = _filters({k: v for k, v in params.items() if not (k == "channel_id" and v == 0)}, None)
        ids, total, items = _all_pages(client, world.admin, params, admin=True, page_size=23)
        expected = _oracle(tasks, filters, task_id)
        assert ids == expected and total == len(expected), params
        for item in items:
            assert set(item) - {"result_url"} == USER_FIELDS | {"username"} and "_submit" not in item["properties"]
            owner = world.user if item["user_id"] == world.user.user_id else world.other
            assert item["username"] == owner.username
    # Some filters are really selective, so the comparisons above are not vacuous.
    assert len(_oracle(tasks, ListingFilters(kind="task"))) == 60
    assert 0 < len(_oracle(tasks, _filters({"action": "MUSIC", "end_timestamp": mid}, world.user.user_id)[0])) < 20

    # One item in full: seconds, progress, properties without the engine's internals.
    status, body = listing(client, world.user, f"task_id={own.task_id}")
    item = body["data"]["items"][0]
    assert item["submit_time"] == int(own.submit_ms) // 1000 and item["quota"] == int(own.quota)
    assert item["properties"] == {"input": own.properties["input"]} and item["id"] == int(own.id)


def test_paging_rules_bad_parameters_and_roles(client: Any, world: Any) -> None:
    _dataset(world, n=30)
    # Clamped as new-api clamps.
    for query, page, size in (("p=0", 1, 20), ("p=-3", 1, 20), ("page_size=1000", 1, 100), ("page_size=0", 1, 20),
                              ("ps=5", 1, 5), ("size=4&p=2", 2, 4), ("", 1, 20)):
        status, body = listing(client, world.user, query)
        assert status == 200 and (body["data"]["page"], body["data"]["page_size"]) == (page, size), query
        assert len(body["data"]["items"]) == min(size, max(0, 20 - (page - 1) * size))
    status, body = listing(client, world.user, "p=99")
    assert status == 200 and body["data"]["items"] == [] and body["data"]["total"] == 20
    # What cannot make sense: 400, success false, a message saying why.
    for query in ("page_size=-1", "p=abc", "page_size=1.5", "status=BOGUS", "start_timestamp=abc",
                  "end_timestamp=12x", "start_timestamp=1700000900&end_timestamp=1700000000",
                  "start_timestamp=1700000000000", "start_timestamp=-5", f"platform={'x' * 200}"):
        status, body = listing(client, world.user, query)
        assert status == 400 and body["success"] is False and body["message"], query
        assert set(body) == {"success", "message"}
    assert listing(client, world.admin, "channel_id=abc", admin=True)[0] == 400
    assert listing(client, world.user, "channel_id=abc")[0] == 200  # not a parameter of the user listing

    # Admin listing needs role >= 10; the user listing never shows another user's task.
    status, body = listing(client, world.user, "", admin=True)
    assert status == 403 and body["success"] is False
    status, body = client.http.get("/api/task/self"), None
    assert status.status_code == 401
    status, body = listing(client, world.admin, "")
    assert status == 200 and body["data"]["total"] == 0  # the admin's own listing: the admin has no task
    status, body = listing(client, world.admin, "page_size=100", admin=True)
    assert body["data"]["total"] == 30 and len({i["user_id"] for i in body["data"]["items"]}) == 2


def test_deep_pages_cursors_and_lists_changing_between_pages(client: Any, world: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = _dataset(world, n=120, seed=5)
    user = ListingFilters(kind="task", user_id=world.user.user_id)
    expected = _oracle(tasks, user)
    size = 6

    def page(p: int, filters: ListingFilters = user) -> list[str]:
        items, total = listings.list_tasks(filters, p, size)
        assert total == len(_oracle(tasks, filters))
        return [t.task_id for t in items]

    monkeypatch.setattr(listings, "ANCHOR_EVERY", 12)
    # A jump far ahead with no cursor around walks the keys once (from the nearer end).
    assert page(4) == expected[18:24] and listings.last_stats.seek == "walk"
    assert listings.last_stats.seek_items == 18 and listings.last_stats.page_items == 6
    # That walk kept an anchor at row 12: a jump just below it (another page size) walks from there.
    items, _ = listings.list_tasks(user, 4, 5)  # rows 16..20: anchor 12 + 3 keys
    assert [t.task_id for t in items] == expected[15:20] and listings.last_stats.seek == "walk_from_cursor"
    assert listings.last_stats.seek_items == 3
    # The last page is read upwards from the oldest end: its rows and nothing else.
    last = (len(expected) + size - 1) // size
    assert page(last) == expected[(last - 1) * size:] and listings.last_stats.seek == "walk_from_end"
    assert listings.last_stats.seek_items == 0 and listings.last_stats.page_items == len(expected) - (last - 1) * size
    # A page in the second half: the keys below it, then the page upwards.
    assert page(9) == expected[48:54] and listings.last_stats.seek == "walk_from_end"
    assert listings.last_stats.seek_items == len(expected) - 54 and listings.last_stats.page_items == 6
    # Next and previous pages start from the rows the page kept: the page's rows only.
    assert page(10) == expected[54:60] and listings.last_stats.seek == "cursor"
    assert listings.last_stats.seek_items == 0 and listings.last_stats.page_items == 6
    assert listings.last_stats.counter_items == 1 and listings.last_stats.cursor_reads == 1
    assert page(9) == expected[48:54] and listings.last_stats.seek == "cursor"
    assert listings.last_stats.seek_items == 0 and listings.last_stats.page_items == 6
    assert page(8) == expected[42:48] and listings.last_stats.seek == "cursor"  # read upwards from row 49
    assert listings.last_stats.seek_items == 0 and listings.last_stats.page_items == 6
    # Two pages ahead or back: one page of keys from the nearest kept row, then the page.
    assert page(6) == expected[30:36] and listings.last_stats.seek == "walk_from_cursor"
    assert listings.last_stats.seek_items == 6 and listings.last_stats.page_items == 6
    assert page(12) == expected[66:72] and listings.last_stats.seek == "walk_from_cursor"
    assert listings.last_stats.seek_items == 6 and listings.last_stats.page_items == 6

    # New tasks arrive at the top: a kept row is that many rows lower now (offsets stay exact).
    assert page(10) == expected[54:60]
    new = write_tasks([{"task_id": f"task_new{i}", "numeric_id": 9000 + i, "kind": "task", "platform": "suno",
                        "user_id": world.user.user_id, "action": "MUSIC", "status": "SUBMITTED",
                        "submit_ms": BASE_MS + 10**9 + i} for i in range(2)])
    tasks += new
    expected = _oracle(tasks, user)
    assert page(11) == expected[60:66] and listings.last_stats.seek == "walk_from_cursor"
    # nearest: row 66 (kept by the jump to page 12) is row 68 now: 1 key up, then the page upwards
    assert listings.last_stats.seek_items == 1 and listings.last_stats.page_items == 6

    # A task is deleted below a kept row while another arrives at the top: the total is unchanged, but
    # every row between them moved down by one. The scope's change count says so: the kept rows are not
    # trusted and the page is still exact.
    assert page(11) == expected[60:66]  # keeps rows 61 and 66 under the current counts
    gone = next(t for t in (Task.get(i) for i in expected[75:]) if t.status in states.TERMINAL)
    assert v1_records.delete_finished(gone)
    tasks = [t for t in tasks if t.task_id != gone.task_id] + write_tasks([{
        "task_id": "task_new9", "numeric_id": 9009, "kind": "task", "platform": "suno",
        "user_id": world.user.user_id, "action": "MUSIC", "status": "SUBMITTED", "submit_ms": BASE_MS + 10**9 + 9}])
    expected = _oracle(tasks, user)
    assert page(12) == expected[66:72] and listings.last_stats.seek in ("walk", "walk_from_end")

    # A task changes status: a status listing's remembered cursor is no longer trusted (total moved).
    status_filter = ListingFilters(kind="task", user_id=world.user.user_id, status=states.SUBMITTED)
    submitted = _oracle(tasks, status_filter)
    assert page(1, status_filter) == submitted[:6]
    moved = Task.get(submitted[2])
    assert task_store.transition(moved, states.SUCCESS)
    tasks = [t for t in tasks if t.task_id != moved.task_id] + [Task.get(moved.task_id)]
    assert page(2, status_filter) == _oracle(tasks, status_filter)[6:12]
    assert listings.last_stats.seek in ("walk", "walk_from_end")

    # A time range over the user's scope: whole hours from the hour buckets, the edges' outside rows counted.
    window = ListingFilters(kind="task", user_id=world.user.user_id, start_ms=BASE_MS + 20 * 60_000,
                            end_ms=BASE_MS + 80 * 60_000)
    assert page(1, window) == _oracle(tasks, window)[:6] and listings.last_stats.total_source == "buckets"
    # A time range over a scope with no buckets: total is counted once, then kept while the scope's counter
    # does not move.
    ranged = ListingFilters(kind="task", user_id=world.user.user_id, platform="suno", start_ms=BASE_MS + 20 * 60_000,
                            end_ms=BASE_MS + 80 * 60_000)
    assert page(1, ranged) == _oracle(tasks, ranged)[:6] and listings.last_stats.total_source == "count"
    assert page(2, ranged) == _oracle(tasks, ranged)[6:12] and listings.last_stats.total_source == "count_cached"
    assert listings.last_stats.count_items == 0 and listings.last_stats.seek == "cursor"
    # A new task (submitted now, so at the top of the user's list, outside this range) moves the scope's
    # counter: the kept count is not trusted any more, the range is counted again.
    late = write_tasks([{"task_id": "task_late", "numeric_id": 9100, "kind": "task", "platform": "suno",
                         "user_id": world.user.user_id, "action": "LYRICS", "status": "QUEUED",
                         "submit_ms": BASE_MS + 10**9 + 50}])
    tasks += late
    assert page(1, ranged) == _oracle(tasks, ranged)[:6] and listings.last_stats.total_source == "count"

    # A page past the end reads no task at all.
    assert page(500) == [] and listings.last_stats.page_items == 0 and listings.last_stats.seek == "past_end"
    # Over HTTP the same deep page comes back in the dashboard envelope.
    status, body = listing(client, world.user, f"p=9&page_size={size}")
    assert status == 200 and [i["task_id"] for i in body["data"]["items"]] == _oracle(tasks, user)[48:54]


def test_random_page_jumps_match_the_oracle_while_the_list_changes(world: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Any page, any order, any of the ways a page can be reached (kept rows above or below it, anchors,
    either end), with tasks arriving at the top, changing status and failing over to another channel
    between requests: always the oracle's rows and total."""
    tasks = _dataset(world, n=110, seed=11)
    monkeypatch.setattr(listings, "ANCHOR_EVERY", 10)
    rng = random.Random(7)
    listings_under_test = [
        ListingFilters(kind="task", user_id=world.user.user_id),
        ListingFilters(kind="task", user_id=world.user.user_id, status=states.SUCCESS),
        ListingFilters(kind="task"),
        ListingFilters(kind="task", platform="suno"),
        ListingFilters(kind="task", channel_id=1, action="MUSIC"),
        ListingFilters(kind="task", channel_id=2),
    ]
    seeks: set[str] = set()
    arrived = 0
    for _ in range(150):
        roll = rng.random()
        if roll < 0.08:
            arrived += 1
            tasks += write_tasks([{"task_id": f"task_top{arrived}", "numeric_id": 20_000 + arrived, "kind": "task",
                                   "platform": "suno", "user_id": world.user.user_id, "action": "MUSIC",
                                   "status": rng.choice(states.ALL_STATUSES), "channel_id": 1,
                                   "submit_ms": BASE_MS + 10**9 + arrived * 1000}])
            continue
        if roll < 0.21:  # a failover: the task moves to the other Suno channel, in the middle of its lists
            moving = rng.choice([t for t in tasks if t.platform == "suno" and t.status not in states.TERMINAL])
            stored = Task.get(moving.task_id)
            assert task_store.transition(stored, stored.status, channel_id=3 - int(stored.channel_id))
            tasks = [t for t in tasks if t.task_id != moving.task_id] + [Task.get(moving.task_id)]
            continue
        if roll < 0.29:
            victim = rng.choice([t for t in tasks if t.status not in states.TERMINAL])
            stored = Task.get(victim.task_id)
            assert task_store.transition(stored, rng.choice([states.SUCCESS, states.FAILURE]))
            tasks = [t for t in tasks if t.task_id != victim.task_id] + [Task.get(victim.task_id)]
            continue
        filters = rng.choice(listings_under_test)
        size = rng.choice([5, 7])
        expected = _oracle(tasks, filters)
        pages = (len(expected) + size - 1) // size
        p = rng.randint(1, pages + 1)
        items, total = listings.list_tasks(filters, p, size)
        assert total == len(expected), filters
        assert [t.task_id for t in items] == expected[(p - 1) * size:p * size], (filters, p, size)
        seeks.add(listings.last_stats.seek)
    # the sequence went through every way of reaching a page
    assert {"first", "cursor", "walk", "walk_from_end", "walk_from_cursor", "past_end"} <= seeks
