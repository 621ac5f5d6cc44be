"""The usage log's exact `total` and its deep pages (docs/usage-log.md, "total" and "Any page"): every answer is
checked against a recount of the ledger itself (the oracle), for the user and admin scopes, time windows and
log types; and the last page of a log over 10,000 rows deep is served."""

from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from taskcenter import clock
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry

from tests.integration.suno_support import call

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TYPE_OF_KIND = {"credit": 1, "charge": 2, "refund": 6}


def _get(client: Any, account: Any, path: str, **params: Any) -> dict[str, Any]:
    status, body, _ = call(client, "GET", f"{path}?{urlencode(params)}", account.dashboard_headers())
    assert status == 200, body
    return dict(body["data"])


def _refund(payer: money.Payer, charges: list[money.Charge], _removal: Any) -> bool:
    """A refund row of each charge, as the refund transactions write it (the entry, condition new, counted by
    the ledger stream; the balance back): the history's refunds without a task to fail first."""
    from pynamodb.transactions import TransactWrite
    from taskcenter.store.db import conditional_transaction
    from taskcenter.store.models import LedgerEntry, User

    def build(tx: TransactWrite) -> None:
        entries = [money._ledger(payer.user_id, f"refund#{c.task_id}#{c.attempt}", "refund", c.amount,
                                 task_id=c.task_id, attempt=c.attempt) for c in charges]
        for entry in entries:
            tx.save(entry, condition=LedgerEntry.entry.does_not_exist())
        total = sum(c.amount for c in charges)
        tx.update(User(id=payer.user_id), actions=[User.quota.add(total), User.used_quota.add(-total)])

    return conditional_transaction(build)


def _write_history(account: Any, times: list[int], rng: random.Random, tag: str) -> None:
    """Top-ups, charges and refunds at these times, through the money primitives (each its own transaction)."""
    payer = money.Payer(account.user_id, "")
    charged: list[money.Charge] = []
    for i, at in enumerate(times):
        clock.set_now(at)
        kind = rng.choice(("charge", "charge", "refund", "credit")) if charged else "charge"
        if kind == "credit":
            money.credit_user(account.user_id, rng.randint(1, 500), note=f"top-up {i}")
        elif kind == "charge":
            charge = money.Charge(f"task_{tag}{i}", 0, rng.randint(1, 900))
            money.charge_submission(payer, [charge], lambda tx: None)
            charged.append(charge)
        else:
            assert _refund(payer, [charged.pop(rng.randrange(len(charged)))], lambda tx: None)


@pytest.fixture
def history(world: Any) -> Any:
    """Two users' entries over 26 hours that cross a UTC day boundary, several per hour, distinct times."""
    rng = random.Random(16)
    day = (int(time.time() * 1000) // DAY_MS + 2) * DAY_MS  # after the seeded accounts' opening top-ups
    first = day - 5 * HOUR_MS
    stamps = rng.sample(range(first // 1000, (day + 20 * HOUR_MS) // 1000), 110)
    _write_history(world.user, sorted(s * 1000 + 1 for s in stamps[:70]), rng, "a")
    _write_history(world.other, sorted(s * 1000 + 2 for s in stamps[70:]), rng, "b")
    now = day + 20 * HOUR_MS + 30 * 60_000
    clock.set_now(now)
    yield world, day, now
    clock.set_now(None)


def _oracle(user_id: int | None, start_ms: int | None, end_ms: int | None, log_type: int,
            ledger: list[LedgerEntry] | None = None) -> list[LedgerEntry]:
    """The expected rows, from `ledger` (the table's rows read once by a test that writes none meanwhile)."""
    every = ledger if ledger is not None else list(LedgerEntry.scan())  # a test may scan
    rows = [e for e in every if user_id is None or int(e.user_id) == user_id]
    rows = [e for e in rows if (start_ms is None or e.at_ms >= start_ms) and (end_ms is None or e.at_ms <= end_ms)
            and (not log_type or TYPE_OF_KIND[e.kind] == log_type)]
    return sorted(rows, key=lambda e: -int(e.at_ms))


def _every_page(client: Any, account: Any, path: str, size: int, **params: Any) -> tuple[set[int], list[dict]]:
    totals: set[int] = set()
    items: list[dict] = []
    for page in range(1, 40):
        data = _get(client, account, path, p=page, page_size=size, **params)
        totals.add(data["total"])
        items += data["items"]
        if not data["items"]:
            return totals, items
    raise AssertionError("more pages than rows")


def _windows(day: int, now: int, rng: random.Random) -> list[tuple[int | None, int | None]]:
    """No window, the dashboards' default (today 00:00 to now + 1 h), a day, and windows with partial edge hours."""
    out: list[tuple[int | None, int | None]] = [(None, None), (day, now + HOUR_MS), (day - DAY_MS, day - 1)]
    for _ in range(4):
        a, b = sorted(rng.sample(range((day - 6 * HOUR_MS) // 1000, (now + HOUR_MS) // 1000), 2))
        out.append((a * 1000, b * 1000 + 999))
    out.append((day - 2 * HOUR_MS + 17_000, None))
    return out


def _params(start_ms: int | None, end_ms: int | None, log_type: int) -> dict[str, int]:
    out = {"type": log_type}
    if start_ms is not None:
        out["start_timestamp"] = start_ms // 1000
    if end_ms is not None:
        out["end_timestamp"] = end_ms // 1000
    return out


def test_own_total_is_the_exact_count_of_the_window_and_type_on_every_page(client: Any, history: Any) -> None:
    world, day, now = history
    rng = random.Random(7)
    ledger = list(LedgerEntry.scan())  # nothing is written below
    for start_ms, end_ms in _windows(day, now, rng):
        for log_type in (0, 1, 2, 6):
            expected = _oracle(world.user.user_id, start_ms, end_ms, log_type, ledger)
            size = rng.choice((3, 7, 20))
            totals, items = _every_page(client, world.user, "/api/log/self", size,
                                        **_params(start_ms, end_ms, log_type))
            case = (start_ms, end_ms, log_type, size)
            assert totals == {len(expected)}, case
            assert [(i["created_at"], i["type"], i["quota"]) for i in items] == [
                (int(e.at_ms) // 1000, TYPE_OF_KIND[e.kind], int(e.amount)) for e in expected], case
            assert [i["id"] for i in items] == list(range(1, len(expected) + 1))
            if (start_ms, end_ms, log_type) == (None, None, 0):  # every row: the ledger audit's sums
                audit = money.audit_user(world.user.user_id)
                assert audit.ok and (audit.charges, audit.refunds, audit.credits) == tuple(
                    sum(i["quota"] for i in items if i["type"] == t) for t in (2, 6, 1))


def test_admin_total_is_the_exact_count_for_every_user_or_one_username(client: Any, history: Any) -> None:
    world, day, now = history
    rng = random.Random(8)
    ledger = list(LedgerEntry.scan())  # nothing is written below
    for start_ms, end_ms in _windows(day, now, rng)[1:]:  # the admin window has a start (30 days by default)
        for log_type in (0, 2, 6):
            for who in (None, world.other):
                params = _params(start_ms, end_ms, log_type) | ({"username": who.username} if who else {})
                expected = _oracle(who.user_id if who else None, start_ms, end_ms, log_type, ledger)
                # pages of 25: small pages and their offsets are the own listing's test; here the scopes
                totals, items = _every_page(client, world.admin, "/api/log/", 25, **params)
                assert totals == {len(expected)}, (params, len(expected))
                assert [(i["id"] // 1000, i["user_id"], i["quota"]) for i in items] == [  # id: ms x 1000 + 3 digits
                    (int(e.at_ms), int(e.user_id), int(e.amount)) for e in expected], params


def test_a_page_past_the_end_is_empty_with_the_real_total(client: Any, history: Any) -> None:
    world, _, _ = history
    data = _get(client, world.user, "/api/log/self", p=500, page_size=100)
    assert data["items"] == [] and data["total"] == len(_oracle(world.user.user_id, None, None, 0))


def test_the_last_page_of_a_log_over_ten_thousand_rows_deep_is_served(client: Any, world: Any,
                                                                       task_stream: Any) -> None:
    """10,120 entries (bench-style BatchWrite, counted as the money transactions count them): p=102 of 100 rows
    starts at row 10,101, which main refused with a 400."""
    from taskcenter.store import usage_log_counts

    # entries without counted_by are the ledger stream consumer's to skip (store/usage_log_counts.py): reading
    # 10,120 stream records through moto would be most of this test's time and prove nothing about the paging
    task_stream.paused = True

    base = (int(time.time() * 1000) // DAY_MS + 2) * DAY_MS
    entries = [LedgerEntry(user_id=world.user.user_id, entry=f"charge#task_deep{i}#0", kind="charge", amount=1 + i % 9,
                           task_id=f"task_deep{i}", at_ms=base + i * 30_000, day=money.day_of(base + i * 30_000))
               for i in range(10_120)]
    with LedgerEntry.batch_write() as batch:
        for entry in entries:
            batch.save(entry)
    usage_log_counts.add_counts_now(entries)
    clock.set_now(base + 10_120 * 30_000)
    try:
        params = {"start_timestamp": base // 1000, "type": 2}
        last = _get(client, world.user, "/api/log/self", p=102, page_size=100, **params)
        middle = _get(client, world.user, "/api/log/self", p=51, page_size=100, **params)
    finally:
        clock.set_now(None)
    assert last["total"] == middle["total"] == 10_120
    assert [i["id"] for i in last["items"]] == list(range(10_101, 10_121))
    assert [i["created_at"] for i in last["items"]] == [(base + i * 30_000) // 1000 for i in range(19, -1, -1)]
    newest_on_middle = 10_119 - 5_000
    assert [i["created_at"] for i in middle["items"]] == [
        (base + i * 30_000) // 1000 for i in range(newest_on_middle, newest_on_middle - 100, -1)]


def test_a_window_from_1970_reads_from_the_users_oldest_entry_and_an_admin_year_plus_is_a_400(
        client: Any, history: Any) -> None:
    world, _, now = history
    data = _get(client, world.user, "/api/log/self", start_timestamp=1, page_size=100)
    assert data["total"] == len(_oracle(world.user.user_id, None, None, 0)) == len(data["items"])
    status, body, _ = call(client, "GET", f"/api/log/?start_timestamp=1&end_timestamp={now // 1000}",
                           world.admin.dashboard_headers())
    assert status == 400 and body["success"] is False and "366 days" in body["message"]
    named = _get(client, world.admin, "/api/log/", start_timestamp=1, username=world.other.username)
    assert named["total"] == len(_oracle(world.other.user_id, None, None, 0))


def test_a_refund_sent_twice_is_one_row_and_counted_once(client: Any, world: Any) -> None:
    """The buckets move in the refund's own transaction: the second refund's condition fails, nothing is counted."""
    payer = money.Payer(world.user.user_id, "")
    charge = money.Charge("task_twice", 0, 250)
    money.charge_submission(payer, [charge], lambda tx: None)
    assert _refund(payer, [charge], lambda tx: None)
    assert not _refund(payer, [charge], lambda tx: None)
    data = _get(client, world.user, "/api/log/self", type=6)
    assert data["total"] == 1 == len(data["items"]) and data["items"][0]["quota"] == 250
    assert _get(client, world.user, "/api/log/self", type=2)["total"] == 1


def test_a_top_up_cancelled_by_a_conflict_on_a_shared_bucket_item_is_sent_again(
        client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin shard's bucket item is shared with other users' money transactions (docs/usage-log.md): the
    top-up, once a two-item transaction only its user's writes touched, re-sends a transaction DynamoDB cancelled
    for a conflict instead of failing."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call
    conflicts = []

    def once(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems" and not conflicts:
            conflicts.append(operation)
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "in flight"}}, operation)
        return original(self, operation, params)

    # patched and restored inside the test, not with monkeypatch: its undo runs after the `aws` fixture's
    # teardown and would put this test's stream hook back into botocore for every later test
    BaseClient._make_api_call = once
    try:
        before = money.audit_user(world.user.user_id).quota
        assert money.credit_user(world.user.user_id, 321, note="after a conflict") == before + 321
    finally:
        BaseClient._make_api_call = original
    assert conflicts and money.audit_user(world.user.user_id).ok
    assert _get(client, world.user, "/api/log/self", type=1, page_size=100)["items"][0]["quota"] == 321


def test_the_recount_sets_the_days_written_before_the_buckets_to_the_ledgers_count(client: Any, world: Any) -> None:
    """Entries the code before the buckets wrote (no counts) are counted by the recount of the ended days,
    exactly, and a second run changes nothing (docs/usage-log.md, "Deploying")."""
    from taskcenter.store import maintenance

    base = (int(time.time() * 1000) // DAY_MS + 2) * DAY_MS
    old = [LedgerEntry(user_id=world.user.user_id, entry=f"charge#task_old{i}#0", kind="charge", amount=5,
                       task_id=f"task_old{i}", at_ms=base + i * 600_000, day=money.day_of(base + i * 600_000))
           for i in range(30)]
    with LedgerEntry.batch_write() as batch:  # as the code before this change wrote them: no bucket moved
        for entry in old:
            batch.save(entry)
    clock.set_now(base + DAY_MS + 60_000)  # the next day
    try:
        money.charge_submission(money.Payer(world.user.user_id, ""), [money.Charge("task_new", 0, 7)], lambda tx: None)
        assert _get(client, world.user, "/api/log/self", page_size=100)["total"] == 2  # the seed top-up, the new one
        today = clock.now_ms() // DAY_MS
        assert maintenance.recount_days_before(today) > 0
        first = _get(client, world.user, "/api/log/self", page_size=100)
        maintenance.recount_days_before(today)
        again = _get(client, world.user, "/api/log/self", page_size=100)
    finally:
        clock.set_now(None)
    expected = _oracle(world.user.user_id, None, None, 0)
    assert first == again and first["total"] == len(expected) == 32 == len(first["items"])
    assert [i["quota"] for i in first["items"][:31]] == [7] + [5] * 30
