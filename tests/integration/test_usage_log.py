"""The usage log (docs/usage-log.md): /api/log/self, /api/log/ and their /stat, built from the ledger."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.store import counters, money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

from tests.integration.suno_support import call

# After the seeded accounts' opening top-up (written at the real time): that one is every user's oldest row.
BASE_MS = (int(time.time()) // 60 + 24 * 60) * 60_000
SEED = 10_000_000  # tests/support.make_account's opening quota
ROW_KEYS = {"id", "user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
            "prompt_tokens", "completion_tokens", "use_time", "is_stream", "channel", "channel_name", "token_id",
            "group", "ip", "other"}


def _task(account: Any, quota: int) -> Task:
    nid = counters.next_id("task")
    return task_store.build_task(task_id=f"task_u{nid}", numeric_id=nid, kind="task", platform="suno",
                                 user_id=account.user_id, action="MUSIC", channel_id=1, quota=quota,
                                 model_name="suno_music", key_hash=account.key_hash)


def _history(account: Any, at_ms: int) -> dict[str, Any]:
    """A top-up, two charges, one refunded: each a minute apart from at_ms (the real money primitives)."""
    clock.set_now(at_ms)
    money.credit_user(account.user_id, 5000, note="welcome")
    clock.set_now(at_ms + 60_000)
    kept = _task(account, 300)
    task_store.create_charged(money.Payer(account.user_id, account.key_hash), [kept])
    clock.set_now(at_ms + 120_000)
    failed = _task(account, 700)
    task_store.create_charged(money.Payer(account.user_id, account.key_hash), [failed])
    assert task_store.transition(failed, states.FAILURE, fail_reason="upstream failed")
    clock.set_now(at_ms + 180_000)
    assert money.refund_task(failed.task_id)
    return {"kept": kept.task_id, "failed": failed.task_id}


@pytest.fixture
def logged(world: Any) -> Any:
    tasks = _history(world.user, BASE_MS)
    _history(world.other, BASE_MS + 1000)
    clock.set_now(BASE_MS + 3_600_000)
    yield world, tasks
    clock.set_now(None)


def _get(client: Any, account: Any, path: str, **params: Any) -> tuple[int, Any]:
    status, body, _ = call(client, "GET", f"{path}?{urlencode(params)}" if params else path,
                           account.dashboard_headers())
    return status, body


def test_own_log_lists_topups_charges_and_refunds_newest_first_with_new_apis_fields(client: Any, logged: Any) -> None:
    world, tasks = logged
    status, body = _get(client, world.user, "/api/log/self", p=1, page_size=10)
    assert status == 200 and body["success"] is True and body["message"] == ""
    data = body["data"]
    assert (data["page"], data["page_size"], data["total"]) == (1, 10, 5)
    items = data["items"]
    assert [i["type"] for i in items] == [6, 2, 2, 1, 1]  # refund, consume, consume, top-ups: newest first
    assert [i["quota"] for i in items] == [700, 700, 300, 5000, SEED]
    assert [i["id"] for i in items] == [1, 2, 3, 4, 5]  # user rows are numbered by position, as new-api
    assert [i["created_at"] for i in items[:4]] == [(BASE_MS + s * 60_000) // 1000 for s in (3, 2, 1, 0)]
    for item in items:
        assert set(item) == ROW_KEYS
        assert item["user_id"] == world.user.user_id and item["username"] == world.user.username
        assert isinstance(item["other"], str)  # the v1.0 UI JSON.parses it
    refund = json.loads(items[0]["other"])
    assert refund["task_id"] == tasks["failed"] and refund["reason"]
    assert json.loads(items[2]["other"])["task_id"] == tasks["kept"]
    assert items[3]["content"] == "welcome"


def test_paging_type_and_time_window_filters(client: Any, logged: Any) -> None:
    world, _ = logged
    status, slash = _get(client, world.user, "/api/log/self/", p=2, page_size=3)  # the classic UI's form
    assert status == 200 and [i["id"] for i in slash["data"]["items"]] == [4, 5]
    _, page2 = _get(client, world.user, "/api/log/self", p=2, page_size=3)
    assert [i["id"] for i in page2["data"]["items"]] == [4, 5]
    assert [i["quota"] for i in page2["data"]["items"]] == [5000, SEED]
    assert page2["data"]["total"] == 5
    _, page1 = _get(client, world.user, "/api/log/self", p=1, page_size=3)
    assert page1["data"]["total"] == 5  # exact on every page (the hour buckets, docs/usage-log.md)
    _, consume = _get(client, world.user, "/api/log/self", type=2)
    assert [i["quota"] for i in consume["data"]["items"]] == [700, 300]
    _, second = _get(client, world.user, "/api/log/self", type=2, p=2, page_size=1)  # the walk skips a refund
    assert [(i["id"], i["quota"]) for i in second["data"]["items"]] == [(2, 300)]
    _, refunds = _get(client, world.user, "/api/log/self", type=6)
    assert [i["quota"] for i in refunds["data"]["items"]] == [700]
    _, logins = _get(client, world.user, "/api/log/self", type=7)
    assert logins["data"]["items"] == [] and logins["data"]["total"] == 0
    window = {"start_timestamp": (BASE_MS + 60_000) // 1000, "end_timestamp": (BASE_MS + 120_000) // 1000}
    _, windowed = _get(client, world.user, "/api/log/self", **window)
    assert [i["quota"] for i in windowed["data"]["items"]] == [700, 300]
    _, unmatched = _get(client, world.user, "/api/log/self", model_name="gpt-4")  # not in the ledger: no row
    assert unmatched["data"]["items"] == []


@pytest.mark.parametrize("params", [{"type": "x"}, {"type": "9"}, {"p": "two"}, {"page_size": "-1"},
                                    {"start_timestamp": "20", "end_timestamp": "10"},
                                    {"start_timestamp": str(BASE_MS)}, {"p": "9" * 400}, {"type": "²"},
                                    {"model_name": "x" * 70_000}])
def test_bad_parameters_are_a_dashboard_400(client: Any, logged: Any, params: dict[str, str]) -> None:
    world, _ = logged
    status, body = _get(client, world.user, "/api/log/self", **params)
    assert status == 400 and body["success"] is False and body["message"]


def test_stat_sums_consume_rows_in_the_window(client: Any, logged: Any) -> None:
    world, _ = logged
    status, body = _get(client, world.user, "/api/log/self/stat")
    assert status == 200 and body["data"] == {"quota": 1000, "rpm": 0, "tpm": 0}
    _, windowed = _get(client, world.user, "/api/log/self/stat", type=6,  # type ignored, as new-api
                       start_timestamp=(BASE_MS + 90_000) // 1000)
    assert windowed["data"]["quota"] == 700
    clock.set_now(BASE_MS + 150_000)
    _, recent = _get(client, world.user, "/api/log/self/stat")
    assert recent["data"]["rpm"] == 1  # the 700 charge, 30 s ago


def test_charge_and_refund_rows_sum_to_the_ledger_audit(client: Any, logged: Any) -> None:
    world, _ = logged
    _, body = _get(client, world.user, "/api/log/self", page_size=100)
    rows = body["data"]["items"]
    audit = money.audit_user(world.user.user_id)
    assert audit.ok
    assert sum(r["quota"] for r in rows if r["type"] == 2) == audit.charges
    assert sum(r["quota"] for r in rows if r["type"] == 6) == audit.refunds
    assert sum(r["quota"] for r in rows if r["type"] == 1) == audit.credits


def test_admin_lists_every_users_log_and_filters_by_username(client: Any, logged: Any) -> None:
    world, _ = logged
    window = {"start_timestamp": BASE_MS // 1000 - 60, "end_timestamp": BASE_MS // 1000 + 3600}
    status, body = _get(client, world.admin, "/api/log", page_size=100, **window)
    assert status == 200
    users = {i["user_id"] for i in body["data"]["items"]}
    assert {world.user.user_id, world.other.user_id} <= users
    created = [i["created_at"] for i in body["data"]["items"]]
    assert created == sorted(created, reverse=True)
    paged = [i for p in (1, 2, 3) for i in _get(client, world.admin, "/api/log", p=p, page_size=3, **window)[1]
             ["data"]["items"]]
    assert [i["id"] for i in paged] == [i["id"] for i in body["data"]["items"]]  # pages walk the same order
    _, mine = _get(client, world.admin, "/api/log", username=world.user.username, **window)
    assert [i["quota"] for i in mine["data"]["items"]] == [700, 700, 300, 5000]
    assert {i["username"] for i in mine["data"]["items"]} == {world.user.username}
    _, stat = _get(client, world.admin, "/api/log/stat", username=world.other.username, **window)
    assert stat["data"]["quota"] == 1000
    _, nobody = _get(client, world.admin, "/api/log", username="no-such-user", **window)
    assert nobody["data"]["items"] == []


@pytest.mark.parametrize("path", ["/api/log", "/api/log/stat"])
def test_admin_routes_refuse_a_common_user(client: Any, logged: Any, path: str) -> None:
    world, _ = logged
    status, body = _get(client, world.user, path)
    assert status in (401, 403) and body["success"] is False


def test_another_users_log_is_invisible(client: Any, logged: Any) -> None:
    world, tasks = logged
    _, body = _get(client, world.other, "/api/log/self", page_size=100)
    assert {i["user_id"] for i in body["data"]["items"]} == {world.other.user_id}
    assert all(tasks["failed"] not in i["other"] for i in body["data"]["items"])


def test_a_video_settlement_is_a_row_of_its_own(client: Any, world: Any) -> None:
    """settle#<task>#<attempt> (docs/video.md): a refund row when the video cost less than was charged."""
    from taskcenter.store.repositories import current as repositories

    clock.set_now(BASE_MS)
    try:
        task = _task(world.user, 900)
        task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
        clock.set_now(BASE_MS + 60_000)
        assert repositories().tasks.succeed_and_settle(task, None, 600)  # 300 back, with the move
        _, body = _get(client, world.user, "/api/log/self", start_timestamp=BASE_MS // 1000)
        # the admin index holds keys only: a settlement's type comes from its item (docs/usage-log.md)
        _, refunds = _get(client, world.admin, "/api/log", type=6, start_timestamp=BASE_MS // 1000)
        _, consumed = _get(client, world.admin, "/api/log", type=2, start_timestamp=BASE_MS // 1000)
    finally:
        clock.set_now(None)
    settle, charge = body["data"]["items"]
    assert (settle["type"], settle["quota"], charge["type"], charge["quota"]) == (6, 300, 2, 900)
    assert json.loads(settle["other"]) == {"task_id": task.task_id, "is_task": True, "settlement": True}
    assert [r["quota"] for r in refunds["data"]["items"]] == [300] and refunds["data"]["total"] == 1
    assert [r["quota"] for r in consumed["data"]["items"]] == [900] and consumed["data"]["total"] == 1
