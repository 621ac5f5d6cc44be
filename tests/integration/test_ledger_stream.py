"""The usage log's hour buckets from the ledger table's stream (docs/usage-log.md "total";
store/usage_log_stream.py): a money transaction writes its ledger entry and no bucket item; the stream's
consumer counts each entry once, through replays, bisection, partial retries and withdrawals; entries written
before the stream counted them (no `counted_by`) are left to their own transaction's count."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.services.usage_log import ledger_stream as consumer
from taskcenter.store import counters, held_create, money, stream_marks, usage_log_counts
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Credential, LedgerEntry, Task, User
from taskcenter.store.usage_log_counts import DAY_MS, LogDayCounts

from infra.local.streams import lambda_event, lambda_record
from tests.chaos.checks import usage_log_checks
from tests.support import record_dynamodb_calls


@pytest.fixture(autouse=True)
def _mid_hour() -> Any:
    """Every write of a test, the seeded world's top-up included, in one hour: 20 minutes into it."""
    clock.set_now(1_796_000_000_000 // 3_600_000 * 3_600_000 + 20 * 60_000)
    yield
    clock.set_now(None)


def _task(world: Any, quota: int = 300) -> Task:
    nid = counters.next_id("task")
    return task_store.build_task(task_id=f"task_l{nid}", numeric_id=nid, kind="task", platform="suno",
                                 user_id=world.user.user_id, action="MUSIC", channel_id=1, quota=quota,
                                 key_hash=world.user.key_hash)


def _charge(world: Any, *tasks: Task) -> None:
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), list(tasks))


def _day_item(world: Any, *, top_ups: bool = False) -> dict[str, int]:
    """The user's day item of today, the attributes set (hour buckets and the charges' amounts); top-ups
    (`t`) only if asked (the seeded world's user has one)."""
    name = usage_log_counts.user_item(world.user.user_id, clock.now_ms() // DAY_MS)
    item = LogDayCounts.get(name, consistent_read=True) if LogDayCounts.count(name) else None
    attributes = [a for a in LogDayCounts.get_attributes() if a != "name"]
    return {a: int(getattr(item, a)) for a in attributes if item is not None and getattr(item, a)
            and (top_ups or not a.startswith("t"))}


def _hour() -> str:
    return f"{(clock.now_ms() % DAY_MS) // 3_600_000:02d}"


def _recount_ok() -> bool:
    checks, _ = usage_log_checks()
    return checks[0].ok


def _pending_event(task_stream: Any) -> dict[str, Any]:
    """The ledger records written since the consumer's checkpoint, as the Lambda event it would get."""
    reader = task_stream._ledger_reader()
    raw = reader.fetch(1000)
    return lambda_event([lambda_record(r, reader.stream_arn) for r in raw], reader.source, reader.shard_id,
                        reader.stream_arn)


def test_a_charge_writes_no_bucket_item_and_the_stream_counts_charge_refund_and_top_up_once(
        world: Any, task_stream: Any) -> None:
    task_stream.paused = True
    task = _task(world, quota=300)
    with record_dynamodb_calls() as calls:
        _charge(world, task)
    assert [op for op, _ in calls] == ["TransactWriteItems"]
    # the charge transaction: user, key, ledger entry, task; no counters-table item
    assert LedgerEntry.get(world.user.user_id, f"charge#{task.task_id}#1").counted_by == "stream"
    assert _day_item(world) == {}
    task_stream.paused = False
    task_stream.drain()
    hour = _hour()
    assert _day_item(world) == {f"c{hour}": 1, f"q{hour}": 300}
    assert task_store.transition(task, states.FAILURE, fail_reason="upstream failed")
    assert money.refund_task(task.task_id)
    money.credit_user(world.user.user_id, 50, note="top-up")
    assert _day_item(world, top_ups=True) == {f"c{hour}": 1, f"q{hour}": 300, f"r{hour}": 1, f"t{hour}": 2}
    assert _recount_ok()


def test_the_charge_transaction_holds_no_usage_log_item(world: Any) -> None:
    task = _task(world)
    items = money.charge_items(money.Payer(world.user.user_id, world.user.key_hash),
                               [money.Charge(task.task_id, 1, 300)], lambda tx: None)
    tables = [item["TableName"] for item in items]
    assert sorted(tables) == sorted([User.Meta.table_name, Credential.Meta.table_name, LedgerEntry.Meta.table_name])


def test_a_replayed_bisected_or_partly_retried_batch_counts_each_entry_once(world: Any, task_stream: Any) -> None:
    task_stream.paused = True
    tasks = [_task(world, quota=100 + i) for i in range(4)]
    for task in tasks:
        _charge(world, task)
    money.credit_user(world.user.user_id, 7)
    event = _pending_event(task_stream)
    records = event["Records"]
    assert len(records) == 5 and {r["eventName"] for r in records} == {"INSERT"}
    assert consumer.handle(event) == {"batchItemFailures": [], "state": {}}
    assert _recount_ok()
    consumer.handle(event)  # the same batch again (at-least-once)
    consumer.handle({**event, "Records": records[:2]})  # bisection halves
    consumer.handle({**event, "Records": records[2:]})
    consumer.handle({**event, "Records": records[3:]})  # a retry from a reported failure
    hour = _hour()
    assert _day_item(world)[f"c{hour}"] == 4 and _day_item(world)[f"q{hour}"] == sum(100 + i for i in range(4))
    assert _recount_ok()


def test_a_failed_item_is_retried_from_its_first_record_and_counted_once(
        world: Any, task_stream: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    task_stream.paused = True
    for quota in (10, 20):
        _charge(world, _task(world, quota=quota))
    event = _pending_event(task_stream)
    user_item = usage_log_counts.user_item(world.user.user_id, clock.now_ms() // DAY_MS)
    real = stream_marks.add_once

    def throttled(name: str, *args: Any) -> bool:
        if name == user_item:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        return real(name, *args)

    monkeypatch.setattr("taskcenter.store.usage_log_stream.add_once", throttled)
    reply = consumer.handle(event)
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert reply["batchItemFailures"] == [{"itemIdentifier": first}]
    assert _day_item(world) == {} and not _recount_ok()  # the admin shard's item was counted, the user's not
    monkeypatch.setattr("taskcenter.store.usage_log_stream.add_once", real)
    assert consumer.handle(event)["batchItemFailures"] == []  # Lambda's retry from the record named
    assert _day_item(world)[f"q{_hour()}"] == 30 and _recount_ok()


def test_a_withdrawn_submit_is_uncounted_by_the_stream(world: Any, task_stream: Any) -> None:
    task = _task(world, quota=250)
    held_create.hold([task], held_create.SUBMIT_HOLD, clock.now_ms() + 120_000)
    _charge(world, task)
    assert _day_item(world)[f"q{_hour()}"] == 250
    assert held_create.withdraw_submit(task_store.get(task.task_id))
    assert _day_item(world).get(f"c{_hour()}", 0) == 0 and _day_item(world).get(f"q{_hour()}", 0) == 0
    assert _recount_ok()


def test_an_entry_its_transaction_counted_is_not_counted_again_and_its_withdrawal_uncounts_it(
        world: Any, task_stream: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries written before the stream counted them (docs/deploy.md): no `counted_by`, counted in their own
    transaction. The stream leaves them alone; the withdrawal of one takes its count back in its transaction."""
    monkeypatch.setattr(money, "STREAM_COUNTED", None)  # the code before: entries without `counted_by`
    task = _task(world, quota=40)
    held_create.hold([task], held_create.SUBMIT_HOLD, clock.now_ms() + 120_000)
    _charge(world, task)
    entry = LedgerEntry.get(world.user.user_id, f"charge#{task.task_id}#1", consistent_read=True)
    assert entry.counted_by is None and _day_item(world) == {}  # the stream read it and counted nothing
    usage_log_counts.add_counts_now([entry])  # what its own transaction counted, in the code before
    hour = _hour()
    assert _day_item(world) == {f"c{hour}": 1, f"q{hour}": 40}
    assert held_create.withdraw_submit(task_store.get(task.task_id))
    assert _day_item(world).get(f"c{hour}", 0) == 0 and _day_item(world).get(f"q{hour}", 0) == 0
    assert _recount_ok()
