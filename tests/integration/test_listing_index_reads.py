"""Listing indexes projected to keys (docs/listing.md, "Indexes and what they cost"): every scope x status
combination still lists exactly the right rows (terminal statuses from the `lf` indexes, open ones from the
wider scope's `ls` index, filtered), and a page reads its index keys, then its items in one BatchGetItem."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.domain.listing_plan import ListingFilters
from taskcenter.services.core import listing_executor as listings
from taskcenter.store import tasks as task_store

from tests.integration.test_task_listing import BASE_MS, _dataset, _oracle


def _every_page(filters: ListingFilters, page_size: int = 7) -> tuple[list[str], int]:
    ids: list[str] = []
    page, total = 1, -1
    while True:
        items, total = listings.list_tasks(filters, page, page_size)
        ids += [t.task_id for t in items]
        if not items or len(ids) >= total:
            return ids, total
        page += 1


def test_every_narrow_scope_with_every_status_lists_exactly_its_rows(world: Any) -> None:
    tasks = _dataset(world, n=90)
    mid = BASE_MS + 45 * 60_000
    user = world.user.user_id
    scopes: list[dict[str, Any]] = [
        {"user_id": user, "action": "MUSIC"}, {"user_id": user, "platform": "suno", "action": "LYRICS"},
        {"user_id": user, "platform": "tikmatrix"}, {"user_id": user},
        {"platform": "suno"}, {"action": "post"}, {"channel_id": 1}, {"channel_id": 2, "action": "MUSIC"},
        {"channel_id": 3, "platform": "tikmatrix"}, {},
    ]
    checked = 0
    for scope, status, window in itertools.product(scopes, states.ALL_STATUSES, (None, (mid, None), (None, mid))):
        start, end = window or (None, None)
        filters = ListingFilters(kind="task", status=status, start_ms=start, end_ms=end, **scope)
        expected = _oracle(tasks, filters)
        ids, total = _every_page(filters)
        assert (ids, total) == (expected, len(expected)), (scope, status, window)
        checked += bool(expected)
    assert checked > 100  # not vacuous: most combinations have rows


def test_a_task_finishing_moves_from_the_open_listing_to_the_terminal_one(world: Any) -> None:
    tasks = _dataset(world, n=60)
    task = next(t for t in tasks if t.status not in states.TERMINAL and t.kind == "task")
    channel, status = int(task.channel_id), task.status
    running = ListingFilters(kind="task", channel_id=channel, action=task.action, status=status)
    done = ListingFilters(kind="task", channel_id=channel, action=task.action, status=states.SUCCESS)
    before_done = _every_page(done)[0]
    assert task.task_id in _every_page(running)[0] and task.task_id not in before_done
    assert task_store.transition(task, states.SUCCESS)
    assert task.lf == f"SUCCESS#{task.lt}"  # the terminal-status key, written once, by the move that finishes
    assert task.task_id not in _every_page(running)[0]
    assert sorted(_every_page(done)[0]) == sorted([*before_done, task.task_id])


class _Calls:
    """Every DynamoDB call on the tasks table: (operation, IndexName, items returned)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, list[dict[str, Any]]]] = []
        self._params: dict[int, dict[str, Any]] = {}

    def before(self, params: Any = None, context: Any = None, **_: Any) -> None:
        if context is not None and isinstance(params, dict):
            context["listing_test_params"] = dict(params)

    def after(self, parsed: Any = None, model: Any = None, context: Any = None, **_: Any) -> None:
        params = (context or {}).get("listing_test_params") or {}
        table = params.get("TableName") or next(iter(params.get("RequestItems") or {}), "")
        if not str(table).endswith("tasks") and "tasks" not in str(table):
            return
        parsed = parsed or {}
        items = list(parsed.get("Items") or []) + [
            i for found in (parsed.get("Responses") or {}).values() for i in found]
        self.calls.append((model.name, params.get("IndexName"), items))


@pytest.fixture
def calls() -> Any:
    from taskcenter.store import db
    from taskcenter.store.models import ALL_MODELS

    recorder = _Calls()
    session = db.botocore_session()
    session.register("before-parameter-build.dynamodb", recorder.before)
    session.register("after-call.dynamodb", recorder.after)
    for model in ALL_MODELS:
        model._connection = None  # clients copy the session's hooks when they are created
    yield recorder
    session.unregister("before-parameter-build.dynamodb", recorder.before)
    session.unregister("after-call.dynamodb", recorder.after)
    for model in ALL_MODELS:
        model._connection = None


def test_a_page_reads_its_keys_from_the_index_then_its_items_in_one_batch(world: Any, calls: Any) -> None:
    _dataset(world, n=60)
    filters = ListingFilters(kind="task", user_id=world.user.user_id)
    for page in (1, 2):
        calls.calls.clear()
        items, total = listings.list_tasks(filters, page, 10)
        assert len(items) == 10 and total == 40
        queries = [c for c in calls.calls if c[0] == "Query"]
        batches = [c for c in calls.calls if c[0] == "BatchGetItem"]
        assert len(queries) == 1 and queries[0][1] == "user_time_v2"
        # the index page holds keys: the listing's index is not ALL-projected, the items come from the batch
        assert all(set(row) <= {"task_id", "lu", "lt"} for row in queries[0][2]) and len(queries[0][2]) == 10
        assert len(batches) == 1 and [i["task_id"]["S"] for i in batches[0][2]] != [] and len(batches[0][2]) == 10
        assert [t.task_id for t in items] == [row["task_id"]["S"] for row in queries[0][2]]  # the index's order
        assert all(t.properties.get("input") for t in items)  # whole items, not index copies


def test_the_backfill_lists_tasks_finished_before_the_terminal_indexes(world: Any) -> None:
    from taskcenter.store import maintenance as listing_backfill
    from taskcenter.store.models import Task

    tasks = _dataset(world, n=30)
    finished = [t for t in tasks if t.status in states.TERMINAL and t.kind == "task"]
    for task in finished:  # as written by the code before (no `lf`)
        task.update(actions=[Task.lf.remove()])
    action = finished[0].action
    done = ListingFilters(kind="task", action=action, status=finished[0].status)
    assert _every_page(done)[0] == []
    assert listing_backfill.backfill_final_keys(0, 2) + listing_backfill.backfill_final_keys(1, 2) == len(finished)
    assert _every_page(done)[0] == _oracle(tasks, done) != []
    assert listing_backfill.backfill_final_keys() == 0  # repeatable: nothing left to do


def test_a_listing_whose_index_is_not_built_yet_is_unavailable_not_a_500(world: Any, monkeypatch: Any,
                                                                        client: Any) -> None:
    from taskcenter.domain.errors import Unavailable
    from taskcenter.store.models import Task

    from tests.integration.suno_support import listing

    _dataset(world, n=5)
    # as during the staged migration (docs/deploy.md): the table has no index of that name yet. The model's
    # connection built meanwhile describes the patched index: the one from before comes back afterwards
    monkeypatch.setattr(Task, "_connection", Task._connection)
    monkeypatch.setattr(Task.user_time.Meta, "index_name", "user_time_v3")  # type: ignore[attr-defined]
    monkeypatch.setitem(Task._indexes, "user_time_v3", Task.user_time)  # type: ignore[attr-defined]
    with pytest.raises(Unavailable):
        listings.list_tasks(ListingFilters(kind="task", user_id=world.user.user_id), 1, 10)
    status, body = listing(client, world.user, "p=1")
    assert status == 503 and body["success"] is False, body
