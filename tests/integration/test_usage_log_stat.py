"""The usage log's stat (docs/usage-log.md, "Stat"): /api/log/self/stat and /api/log/stat against a recount of
the ledger itself (the oracle) over the same windows and filters, and the ledger items a stat reads, counted
with a botocore hook (not timed): whole hours come from the hour buckets' amounts, so a stat over a long log
reads at most one hour's rows per edge and the last minute's rows."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry

from tests.integration import test_usage_log_paging
from tests.integration.test_usage_log_paging import DAY_MS, HOUR_MS, _get, _oracle, _params, _windows

history = test_usage_log_paging.history  # the two users' 26 hours of entries (a fixture)

RECENT_MS = 60_000


def _expected(user_id: int | None, start_ms: int | None, end_ms: int | None, now: int) -> dict[str, int]:
    """new-api's stat recounted from every ledger entry: quota = the window's consume rows' sum, rpm = consume
    rows of the last 60 s (the window not applied), tpm = 0."""
    charges = _oracle(user_id, start_ms, end_ms, 2)
    recent = _oracle(user_id, now - RECENT_MS, None, 2)
    return {"quota": sum(int(e.amount) for e in charges), "rpm": len(recent), "tpm": 0}


def _charge_recently(account: Any, now: int, offsets_ms: tuple[int, ...], tag: str) -> None:
    payer = money.Payer(account.user_id, "")
    for i, back in enumerate(offsets_ms):
        clock.set_now(now - back)
        money.charge_submission(payer, [money.Charge(f"task_{tag}{i}", 0, 11 + i)], lambda tx: None)
    clock.set_now(now)


def test_own_stat_equals_a_recount_of_the_ledger_over_every_window(client: Any, history: Any) -> None:
    world, day, now = history
    _charge_recently(world.user, now, (70_000, 50_000, 20_000), "recent")  # two inside the last minute
    rng = random.Random(9)
    for start_ms, end_ms in _windows(day, now, rng):
        for log_type in (0, 6):  # type is ignored, as new-api
            data = _get(client, world.user, "/api/log/self/stat", **_params(start_ms, end_ms, log_type))
            assert data == _expected(world.user.user_id, start_ms, end_ms, now), (start_ms, end_ms, log_type)
    assert _expected(world.user.user_id, None, None, now)["rpm"] == 2
    assert _get(client, world.user, "/api/log/self/stat", model_name="suno_music") == {"quota": 0, "rpm": 0, "tpm": 0}


def test_admin_stat_equals_a_recount_for_every_user_or_one_username(client: Any, history: Any) -> None:
    world, day, now = history
    _charge_recently(world.other, now, (30_000,), "other")
    _charge_recently(world.user, now, (10_000, 90_000), "mine")
    rng = random.Random(10)
    for start_ms, end_ms in _windows(day, now, rng)[1:]:  # the admin window has a start (30 days by default)
        for who in (None, world.other, world.user):
            params = _params(start_ms, end_ms, 0) | ({"username": who.username} if who else {})
            # every user's totals include the seeded accounts' opening top-ups: consume rows only are summed
            data = _get(client, world.admin, "/api/log/stat", **params)
            assert data == _expected(who.user_id if who else None, start_ms, end_ms, now), params
    assert _get(client, world.admin, "/api/log/stat", channel=3) == {"quota": 0, "rpm": 0, "tpm": 0}


class _Reads:
    """`after-call.dynamodb` hook: ledger items read (Query ScannedCount, GetItem, BatchGetItem items)."""

    def __init__(self) -> None:
        self.ledger = 0

    def __call__(self, parsed: Any = None, model: Any = None, context: Any = None, **kwargs: Any) -> None:
        import os

        table = ((context or {}).get("bench_params") or {}).get("TableName")
        ledger = os.environ.get("LEDGER_TABLE")
        parsed = parsed or {}
        if model is None:
            return
        if model.name == "Query" and table == ledger:
            self.ledger += int(parsed.get("ScannedCount", 0))
        elif model.name == "GetItem" and table == ledger:
            self.ledger += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            self.ledger += len((parsed.get("Responses") or {}).get(ledger, []))


@pytest.fixture
def reads() -> Iterator[_Reads]:
    from taskcenter.store import db
    from taskcenter.store.models import ALL_MODELS
    from taskcenter.store.usage_log_counts import LogDayCounts

    from tests.bench.bench_listing import _remember_params

    counter = _Reads()
    session = db.botocore_session()

    def reset() -> None:
        for model in (*ALL_MODELS, LogDayCounts):
            model._connection = None  # clients copy the session's hooks when they are created
        db._connection = None

    session.register("before-parameter-build.dynamodb", _remember_params)
    session.register("after-call.dynamodb", counter)
    reset()
    yield counter
    session.unregister("before-parameter-build.dynamodb", _remember_params)
    session.unregister("after-call.dynamodb", counter)
    reset()


def test_a_stat_over_a_long_log_reads_one_hours_rows_per_edge_not_the_log(
        client: Any, world: Any, reads: _Reads, task_stream: Any) -> None:
    """2,400 charges, one a minute over 40 hours (bench-style BatchWrite, counted as the money transactions
    count them): the whole log's stat and a window with two partial edge hours read at most the oldest entry,
    one hour's rows per edge and the last minute's rows; main read every charge of the window."""
    from taskcenter.store import usage_log_counts

    task_stream.paused = True  # entries without counted_by: the ledger stream's consumer skips them anyway
    base = (int(time.time() * 1000) // DAY_MS + 2) * DAY_MS
    entries = [LedgerEntry(user_id=world.user.user_id, entry=f"charge#task_long{i}#0", kind="charge",
                           amount=1 + i % 13, task_id=f"task_long{i}", at_ms=base + i * 60_000,
                           day=money.day_of(base + i * 60_000)) for i in range(2_400)]
    with LedgerEntry.batch_write() as batch:
        for entry in entries:
            batch.save(entry)
    usage_log_counts.add_counts_now(entries)
    now = base + 2_400 * 60_000
    clock.set_now(now)
    try:
        cases = [{}, {"start_timestamp": (base + 3 * HOUR_MS + 20 * 60_000) // 1000,
                      "end_timestamp": (base + 35 * HOUR_MS + 10 * 60_000) // 1000}]
        for params in cases:
            reads.ledger = 0
            data = _get(client, world.user, "/api/log/self/stat", **params)
            start = params.get("start_timestamp")
            end = params.get("end_timestamp")
            assert data == _expected(world.user.user_id, start * 1000 if start else None,
                                     end * 1000 + 999 if end else None, now), params
            assert 0 < reads.ledger <= 1 + 2 * 60 + 2, (params, reads.ledger)
            reads.ledger = 0
            admin_start = start * 1000 if start else now + HOUR_MS - 30 * DAY_MS  # the admin's default 30 days
            assert _get(client, world.admin, "/api/log/stat", **params) == _expected(
                None, admin_start, end * 1000 + 999 if end else None, now), params
            assert reads.ledger <= 1 + 2 * 60 + 2 + 2, (params, reads.ledger)
    finally:
        clock.set_now(None)


def test_a_video_settlement_that_charged_more_is_in_the_quota_one_that_gave_back_is_not(
        client: Any, world: Any) -> None:
    """settle#<task>#<attempt> (docs/video.md) is a consume row when the video cost more than was charged: its
    amount joins its hour's sum; whole hours (from the buckets) and a partial edge hour (the admin's by_day keys
    carry no kind: the settlement's item is read) both count it."""
    from taskcenter.store import tasks as task_store
    from taskcenter.store.repositories import current as repositories

    from tests.integration.test_usage_log import _task

    base = (int(time.time() * 1000) // DAY_MS + 2) * DAY_MS
    payer = money.Payer(world.user.user_id, world.user.key_hash)
    clock.set_now(base + 10 * 60_000)
    try:
        more, less = _task(world.user, 900), _task(world.user, 500)
        task_store.create_charged(payer, [more, less])
        clock.set_now(base + 20 * 60_000)
        assert repositories().tasks.succeed_and_settle(more, None, 1_200)  # 300 more, a consume row
        assert repositories().tasks.succeed_and_settle(less, None, 200)  # 300 back, a refund row
        now = base + HOUR_MS + 5 * 60_000
        clock.set_now(now)
        for start in (base, base + 15 * 60_000):  # on the hour; inside it (an edge hour read)
            expected = _expected(world.user.user_id, start, None, now)
            assert expected["quota"] == (900 + 500 + 300 if start == base else 300)
            assert _get(client, world.user, "/api/log/self/stat", start_timestamp=start // 1000) == expected
            assert _get(client, world.admin, "/api/log/stat", start_timestamp=start // 1000) == _expected(
                None, start, None, now)
    finally:
        clock.set_now(None)
