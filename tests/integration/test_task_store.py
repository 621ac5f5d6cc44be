"""store.tasks: creation in the charge transaction, conditional transitions, counters kept exact."""

from __future__ import annotations

import threading

import pytest
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.domain.errors import InsufficientQuota
from taskcenter.store import counters, money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import REFUND_LANE, LedgerEntry, Task, User


def _new_task(world, *, quota=1000, channel_id=1, status=states.NOT_START):
    nid = counters.next_id("task")
    return task_store.build_task(task_id=f"task_t{nid}", numeric_id=nid, kind="task", platform="suno",
                                 user_id=world.user.user_id, action="MUSIC", status=status, channel_id=channel_id,
                                 quota=quota, model_name="suno_music", key_hash=world.user.key_hash)


def _total(scope_attr: str, value: str, status: str = "ALL") -> int:
    return counters.read_sum(listing.counter_names_for_read(scope_attr, value, status))


def test_create_charged_writes_task_ledger_and_counters_together(world):
    task = _new_task(world)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    stored = task_store.get(task.task_id)
    assert stored is not None and stored.billing == states.BILLING_CHARGED and stored.quota == 1000
    assert User.get(world.user.user_id).quota == 10_000_000 - 1000
    assert LedgerEntry.get(world.user.user_id, f"charge#{task.task_id}#1").amount == 1000
    uid = world.user.user_id
    assert _total("lu", f"u#{uid}#task") == 1
    assert _total("lu", f"u#{uid}#task", "NOT_START") == 1
    assert _total("lg", "g#task") >= 1


def test_insufficient_quota_writes_nothing(world):
    task = _new_task(world, quota=10_000_001)
    with pytest.raises(InsufficientQuota):
        task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    assert task_store.get(task.task_id) is None
    assert User.get(world.user.user_id).quota == 10_000_000
    assert _total("lu", f"u#{world.user.user_id}#task") == 0


def test_transition_is_conditional_and_moves_counters(world):
    task = _new_task(world)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    stale = task_store.get(task.task_id)
    assert task_store.transition(task, states.SUBMITTED)
    assert task.status == states.SUBMITTED and task.version == 2
    # a worker holding the old version loses, and writes nothing
    assert not task_store.transition(stale, states.IN_PROGRESS)
    assert task_store.get(task.task_id).status == states.SUBMITTED
    uid = world.user.user_id
    assert _total("lu", f"u#{uid}#task", "NOT_START") == 0
    assert _total("lu", f"u#{uid}#task", "SUBMITTED") == 1
    assert _total("lu", f"u#{uid}#task") == 1


def test_racing_workers_produce_one_winner(world):
    task = _new_task(world)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    copies = [task_store.get(task.task_id) for _ in range(4)]
    barrier = threading.Barrier(len(copies))
    results: list[bool] = []

    def worker(copy: Task) -> None:
        barrier.wait()
        results.append(task_store.transition(copy, states.FAILURE, fail_reason="upstream failed"))

    threads = [threading.Thread(target=worker, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    stored = task_store.get(task.task_id)
    assert stored.status == states.FAILURE and stored.billing == states.BILLING_REFUND_PENDING
    assert _total("lu", f"u#{world.user.user_id}#task", "FAILURE") == 1


def test_failure_marks_refund_pending_and_clears_engine_indexes(world):
    task = _new_task(world)
    task_store.schedule_poll(task, 123)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    assert task_store.transition(task, states.FAILURE, fail_reason="boom")
    stored = task_store.get(task.task_id)
    assert stored.next_poll_at is None and stored.poll_shard is None
    # out of its deadline lane, into the refund lane of the same index, until the refund is done
    assert (stored.due_lane, stored.due_at) == (REFUND_LANE, stored.refund_due_ms)
    assert [t.task_id for t in Task.due.query(REFUND_LANE)] == [task.task_id]
    assert stored.progress == "100%" and stored.finish_ms > 0 and stored.fail_reason == "boom"
    assert money.refund_task(task.task_id) is True
    assert money.refund_task(task.task_id) is False
    stored = task_store.get(task.task_id)
    assert stored.due_lane is None and stored.due_at is None and list(Task.due.query(REFUND_LANE)) == []
    assert money.audit_user(world.user.user_id).ok


def test_failover_moves_the_channel_scope(world):
    task = _new_task(world, channel_id=1)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    assert task_store.transition(task, states.SUBMITTED, channel_id=2)
    stored = task_store.get(task.task_id)
    assert stored.channel_id == 2 and stored.lgc == "g#task#c#2"
    assert stored.lgca == f"g#task#c#2#a#{stored.action}"
    assert _total("lgc", "g#task#c#1") == 0
    assert _total("lgc", "g#task#c#2") == 1
    assert _total("lgc", "g#task#c#2", "SUBMITTED") == 1
    assert _total("lgca", f"g#task#c#1#a#{stored.action}") == 0
    assert _total("lgca", f"g#task#c#2#a#{stored.action}", "SUBMITTED") == 1
    # the admin channel+action listing follows the task to its new channel
    rows = list(Task.all_channel_action_time.query(f"g#task#c#2#a#{stored.action}"))
    assert [t.task_id for t in rows] == [task.task_id]
    assert list(Task.all_channel_action_time.query(f"g#task#c#1#a#{stored.action}")) == []


def test_update_in_place_is_conditional_on_version(world):
    task = _new_task(world)
    task_store.create_charged(money.Payer(world.user.user_id, world.user.key_hash), [task])
    stale = task_store.get(task.task_id)
    assert task_store.update_in_place(task, [Task.progress.set("40%")])
    assert not task_store.update_in_place(stale, [Task.progress.set("10%")])
    assert task_store.get(task.task_id).progress == "40%"
