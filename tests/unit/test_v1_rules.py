"""Task API v1 pure rules: scripts and fan-out, validation naming the field, start_time, statuses, host replies,
transaction chunking."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from taskcenter.domain import states
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import DomainError
from taskcenter.domain.v1_start_time import resolve_start_time

POST_CFG = {"content_type": 0, "captions": "hi", "material_list": ["C:/v.mp4"], "upload_wait_time": 60}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def code_and_field(body: dict[str, Any]) -> tuple[int, str | None]:
    with pytest.raises(DomainError) as caught:
        rules.plan_create(body)
    return caught.value.v1_code, caught.value.field  # type: ignore[attr-defined]


def test_fan_out_counts_and_forced_multi_account() -> None:
    plan = rules.plan_create({"serials": ["d1", "d2"], "script_name": "follow",
                              "script_config": {"target_users": ["a", "b", "c"]}})
    assert len(plan.tasks) == 6
    assert {(t.serial, *t.script_config["target_users"]) for t in plan.tasks} == {
        (d, t) for d in ("d1", "d2") for t in ("a", "b", "c")}
    assert all(t.script_config["access_method"] == "direct" for t in plan.tasks)
    unfollow = rules.plan_create({"usernames": ["x", "y"], "script_name": "unfollow",
                                  "script_config": {"target_users": ["@a", "a"]}})  # "@a" == "a"
    assert len(unfollow.tasks) == 2 and unfollow.tasks[0].account == "x"
    comment = rules.plan_create({"serials": ["d1"], "script_name": "comment",
                                 "script_config": {"target_post_urls": [f"https://t.co/{i}" for i in (1, 2, 3)],
                                                   "comment_content": "hey"}})
    assert len(comment.tasks) == 3 and comment.tasks[0].script_config["comment_content"] == "hey"
    post = rules.plan_create({"serials": ["d1", "d2", "d1"], "script_name": "post", "script_config": POST_CFG})
    assert len(post.tasks) == 2  # duplicate serials collapse
    login = rules.plan_create({"serials": ["d1"], "script_name": "login", "enable_multi_account": False,
                               "script_config": {"username": "u", "password": "p"}})
    match = rules.plan_create({"serials": ["d1"], "script_name": "match_accounts", "enable_multi_account": True,
                               "script_config": {}})
    assert (login.enable_multi_account, match.enable_multi_account) == (True, False)
    warmup = rules.plan_create({"serials": ["d1"], "script_name": "account_warmup", "enable_multi_account": True,
                                "script_config": {}})
    assert warmup.enable_multi_account is True and warmup.script_config["task_duration"] == 600
    assert set(rules.SCRIPTS) == {"post", "follow", "unfollow", "comment", "account_warmup", "login", "profile",
                                  "match_accounts"}


def test_validation_names_the_field_and_picks_the_code() -> None:
    base = {"serials": ["d1"], "script_name": "post", "script_config": POST_CFG}
    assert code_and_field({**base, "script_name": ""}) == (40002, "script_name")
    assert code_and_field({"serials": ["d1"], "script_config": {}}) == (40002, "script_name")
    assert code_and_field({**base, "script_name": "tweet"}) == (40003, "script_name")
    assert code_and_field({**base, "serials": None}) == (40001, "serials")
    assert code_and_field({**base, "usernames": ["u"]}) == (40001, "serials")  # both modes at once
    assert code_and_field({**base, "script_config": {**POST_CFG, "content_type": True}}) == (
        40001, "script_config.content_type")
    assert code_and_field({**base, "script_config": {**POST_CFG, "material_list": "a.mp4"}}) == (
        40001, "script_config.material_list")
    assert code_and_field({**base, "script_config": {**POST_CFG, "upload_wait_time": 99999}}) == (
        40001, "script_config.upload_wait_time")
    # a numeric string past int()'s 4,300 digits was a 500 (found by hostile testing); "60" as a string is fine
    assert code_and_field({**base, "script_config": {**POST_CFG, "upload_wait_time": "0" * 5000 + "1"}}) == (
        40001, "script_config.upload_wait_time")
    assert code_and_field({**base, "min_interval": "9" * 5000}) == (40001, "min_interval")
    assert code_and_field({"serials": ["d1"], "script_name": "login", "script_config": {"password": 5}}) == (
        40001, "script_config.password")
    assert code_and_field({"serials": ["d1"], "script_name": "profile", "script_config": {"bios": ["x"]}}) == (
        40001, "script_config.bios")
    assert code_and_field({"serials": ["d1"], "script_name": "account_warmup",
                           "script_config": {"like_probable": 101}}) == (40001, "script_config.like_probable")
    assert code_and_field({"serials": ["d1"], "script_name": "follow",
                           "script_config": {"target_users": ["bad name!"]}}) == (
        40001, "script_config.target_users")
    assert code_and_field({"serials": [f"d{i}" for i in range(11)], "script_name": "follow",
                           "script_config": {"target_users": [f"u{i}" for i in range(100)]}})[0] == 40001
    assert code_and_field({"serials": [f"d{i}" for i in range(201)], "script_name": "post",
                           "script_config": POST_CFG}) == (40001, "serials")


def test_start_time_hhmm_is_the_next_such_time_in_the_users_zone() -> None:
    now = ms("2026-03-07T16:00:00+00:00")  # 2026-03-08 00:00 in Shanghai
    assert resolve_start_time("09:30", "Asia/Shanghai", now).isoformat() == "2026-03-08T09:30:00+08:00"
    assert resolve_start_time("15:00", "UTC", now).isoformat() == "2026-03-08T15:00:00+00:00"
    assert resolve_start_time("16:01", "UTC", now).isoformat() == "2026-03-07T16:01:00+00:00"
    assert resolve_start_time("16:00", "UTC", now).isoformat() == "2026-03-08T16:00:00+00:00"  # now: tomorrow
    # New York springs forward on 2026-03-08: 02:30 does not exist that day and moves to 03:30 EDT.
    ny_now = ms("2026-03-08T05:00:00+00:00")  # 00:00 EST
    resolved = resolve_start_time("02:30", "America/New_York", ny_now)
    assert resolved.isoformat() == "2026-03-08T03:30:00-04:00"
    assert resolve_start_time("9:05", "UTC", now).isoformat() == "2026-03-08T09:05:00+00:00"
    assert resolve_start_time(None, "UTC", now) is None and resolve_start_time(" ", "UTC", now) is None


def test_start_time_iso_and_refusals() -> None:
    now = ms("2026-03-07T16:00:00+00:00")
    assert resolve_start_time("2026-03-07T20:00:00Z", "Asia/Tokyo", now).isoformat() == \
        "2026-03-08T05:00:00+09:00"
    naive = resolve_start_time("2026-03-08T10:00:00", "Asia/Tokyo", now)  # no offset: the user's zone
    assert naive == datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert resolve_start_time("2026-03-07T15:59:30Z", "UTC", now) is None  # just now: start now
    for bad in ("24:00", "12:60", "noon", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z", "12-30"):
        with pytest.raises(DomainError) as caught:
            resolve_start_time(bad, "UTC", now)
        assert caught.value.field == "start_time"
    assert resolve_start_time("10:00", "Not/AZone", now).isoformat() == "2026-03-08T10:00:00+00:00"


def test_statuses_plans_and_host_replies() -> None:
    from taskcenter.providers.tikmatrix import _items, _state

    assert [rules.v1_status(s) for s in (states.NOT_START, states.SUBMITTED, states.QUEUED, states.IN_PROGRESS,
                                         states.UNKNOWN, states.SUCCESS, states.FAILURE)] == [0, 1, 1, 1, 1, 2, 3]
    assert {n: (p.api_enabled, p.device_limit) for n, p in rules.PLANS.items()} == {
        "Starter": (False, 5), "Pro": (True, 20), "Team": (True, 50), "Business": (True, 100)}
    assert rules.plan_of("???").name == "Starter"
    rows = _items({"tasks": [{"id": 7, "status": 1}, {"id": 8, "status": 3, "error": "boom"},
                             {"id": 9, "status": 2, "result": {"ok": 1}}, {"id": 10, "status": "x"}, "junk"]})
    got = [_state(r) for r in rows]
    assert [(s.upstream_id, s.status) for s in got if s] == [("7", states.IN_PROGRESS), ("8", states.FAILURE),
                                                             ("9", states.SUCCESS)]
    assert got[1].fail_reason == "boom" and got[2].data == {"ok": 1} and got[3] is None


def _v1_tasks(count: int, devices: int, blob: int = 0) -> list[Any]:
    from taskcenter.store import tasks as task_store

    return [task_store.build_task(task_id=f"v1_{n}", numeric_id=n, kind="task", platform="tikmatrix", user_id=2,
                                  action="follow", channel_id=1 + n % 2, quota=500, model_name="v1_follow",
                                  key_hash="k" * 64, serial=f"d{n % devices}",
                                  properties={"script_config": {"target_username": f"t{n}", "blob": "x" * blob}})
            for n in range(1, count + 1)]


@pytest.mark.parametrize(("count", "devices", "blob"), [(1000, 200, 0), (1000, 1, 0), (60, 60, 300_000)])
def test_large_creates_are_cut_where_the_real_transaction_would_pass_a_dynamodb_limit(
        count: int, devices: int, blob: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskcenter.store import held_create
    from taskcenter.store import tasks as task_store
    from taskcenter.store.db import TRANSACT_WRITE_MAX_BYTES, TRANSACT_WRITE_MAX_ITEMS, items_bytes
    from taskcenter.store.money import Payer

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    payer, tasks = Payer(2, "k" * 64), _v1_tasks(count, devices, blob)
    held_create.hold(tasks, "h" * 16, 1)
    chunks = held_create.split(payer, tasks)
    assert sorted(t.task_id for c in chunks for t in c) == sorted(t.task_id for t in tasks)
    rest = {id(t) for t in tasks}
    for chunk in chunks:  # each chunk's real items fit; one task more would not (or none is left)
        items = task_store.create_charged_items(payer, chunk)
        assert len(items) <= TRANSACT_WRITE_MAX_ITEMS and items_bytes(items) <= TRANSACT_WRITE_MAX_BYTES
        rest -= {id(t) for t in chunk}
        following = next((t for c in chunks for t in c if id(t) in rest), None)
        if following is not None and chunk is not chunks[-1]:
            nxt = chunks[chunks.index(chunk) + 1][0]
            more = task_store.create_charged_items(payer, [*chunk, nxt])
            assert len(more) > TRANSACT_WRITE_MAX_ITEMS or items_bytes(more) > TRANSACT_WRITE_MAX_BYTES
    if blob:  # 60 tasks of ~300 KB each: cut by the 4 MB limit (13 a chunk), long before 100 items
        assert max(len(c) for c in chunks) <= 4 * 1024 * 1024 // (blob + 1)


def test_start_time_at_the_edges_of_the_calendar_is_a_clear_refusal() -> None:
    now = ms("2026-03-07T16:00:00+00:00")
    for raw in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00"):
        with pytest.raises(DomainError) as caught:
            resolve_start_time(raw, "America/New_York" if "-12" not in raw else "Pacific/Kiritimati", now)
        assert caught.value.field == "start_time"


def test_a_host_reply_is_read_loosely_where_the_reference_says_so_and_garbage_is_refused() -> None:
    """Found by hostile testing (4 Dec 2026): a `"2"` status counted as a miss (failed and refunded), and a
    submit reply of `[null]`, `[true]` or a 300 KB id made a running task with that id."""
    from taskcenter.providers import tikmatrix

    assert tikmatrix._state({"id": 7, "status": "2"}).status == states.SUCCESS  # "int or string both work"
    assert tikmatrix._state({"id": 7, "status": "x"}) is None
    assert [tikmatrix._host_id(v) for v in (7, "8", " 9 ")] == ["7", "8", "9"]
    assert [tikmatrix._host_id(v) for v in (None, True, {"id": 1}, [1], "", 1.5, 0, "7" * 300_000)] == [None] * 8
