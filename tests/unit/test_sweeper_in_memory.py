"""Timeouts (services/jobs/sweeper.py, docs/engine.md "Timeouts") on the in-memory repositories: no moto, no
network. A task in the poll index is timed out by the poll dispatcher, on the items it reads; a held task by
the sweeper, from the deadline lanes. On moto: tests/integration/test_engine_recovery.py."""

from __future__ import annotations

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.services.core import submission
from taskcenter.services.jobs import polling, sweeper
from taskcenter.store import held_create
from taskcenter.store import tasks as task_store
from taskcenter.store.money import Payer

from tests.unit.memory_world import FUNDS, NOW, World, spec


def timeout_ms() -> int:
    return settings.get().task_timeout_seconds * 1000


def test_a_dispatched_task_past_its_deadline_fails_once_with_settled_data_and_its_refund_queued(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert (task.due_lane, int(task.due_at)) == (None, NOW + timeout_ms())  # its deadline, in no lane
    mem.repos.tasks.update(task, {"data": [{"status": "streaming", "progress": "40%"}]})
    clock.set_now(NOW + timeout_ms() - 1)
    assert polling.dispatch_due_polls().timed_out == 0
    assert sweeper.sweep_timeouts().timed_out == []  # the lanes hold held tasks only
    clock.set_now(NOW + timeout_ms())
    polls = len(mem.messages("poll"))
    report = polling.dispatch_due_polls()
    assert (report.timed_out, report.due, report.polled) == (1, 1, 0)  # timed out, not polled
    assert len(mem.messages("poll")) == polls
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.billing) == (states.FAILURE, states.BILLING_REFUND_PENDING)
    assert stored.fail_reason == sweeper.timeout_reason()
    assert stored.data == [{"status": "error", "progress": "100%"}]
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]
    assert polling.dispatch_due_polls().timed_out == 0  # out of the poll index: timed out once
    assert not sweeper.time_out(task)  # a late loser does nothing
    assert len(mem.messages("refund")) == 1
    assert mem.balance()[0] == FUNDS - submission.price_of(spec(), "default")  # the refund worker pays it


def test_an_accepted_relay_submit_leaves_the_holds_lane_with_its_deadline(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.create_hold, stored.due_lane) == (states.SUBMITTED, None, None)
    assert int(stored.due_at) == NOW + timeout_ms() and stored.next_poll_at is not None
    clock.set_now(NOW + timeout_ms())
    assert sweeper.sweep_timeouts().timed_out == []
    assert polling.dispatch_due_polls().timed_out == 1
    assert mem.repos.tasks.get(task.task_id).status == states.FAILURE


def test_a_held_chunk_past_the_holds_expiry_is_the_sweepers(mem: World) -> None:
    """A chunked Task API v1 create that died between its chunks: its tasks are in no dispatch path."""
    mem.add_channel(1)
    task = submission.build_tasks(mem.principal, [spec()])[0]
    held_create.hold([task], "create-1", NOW + 60_000)
    mem.repos.ledger.charge(Payer(mem.principal.user_id, mem.principal.token_hash), [task])
    clock.set_now(NOW + 59_999)
    assert sweeper.sweep_timeouts().timed_out == []
    clock.set_now(NOW + 60_000)
    assert polling.dispatch_due_polls().due == 0  # held: in no dispatch path
    assert sweeper.sweep_timeouts().timed_out == [task.task_id]
    assert sweeper.sweep_timeouts().timed_out == []
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]


def test_a_held_relay_submit_past_the_holds_expiry_is_the_dispatchers(mem: World) -> None:
    """A relay submit whose request died between its charge and the upstream's answer."""
    mem.add_channel(1)
    task = submission.build_tasks(mem.principal, [spec()])[0]
    held_create.hold_submit(task, NOW + 60_000, due_ms=NOW + 5_000)
    mem.repos.ledger.charge(Payer(mem.principal.user_id, mem.principal.token_hash), [task])
    assert (task.due_lane, int(task.due_at), int(task.next_poll_at)) == (None, NOW + 60_000, NOW + 5_000)
    clock.set_now(NOW + 59_999)
    report = polling.dispatch_due_polls()
    assert (report.due, report.timed_out, report.retries, mem.messages("retry")) == (1, 0, 0, [])  # left alone
    clock.set_now(NOW + 60_000)
    report = polling.dispatch_due_polls()
    assert (report.due, report.timed_out, report.retries) == (1, 1, 0)
    assert mem.repos.tasks.get(task.task_id).status == states.FAILURE
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}] and mem.messages("retry") == []
    assert sweeper.sweep_timeouts().timed_out == [] and polling.dispatch_due_polls().due == 0


def test_a_scheduled_task_times_out_a_limit_after_its_start(mem: World) -> None:
    mem.add_channel(1)
    start = NOW + timeout_ms() + 60_000
    task = submission.create_tasks(mem.principal, [spec(start_at_ms=start, fields={"scheduled_ms": start})])[0]
    assert int(task.due_at) == start + timeout_ms()
    clock.set_now(start + timeout_ms() - 1)
    mem.repos.tasks.update(task, {"next_poll_at": clock.now_ms()})  # due, never started (no device slot)
    assert polling.dispatch_due_polls().timed_out == 0
    clock.set_now(start + timeout_ms())
    mem.repos.tasks.update(mem.repos.tasks.get(task.task_id), {"next_poll_at": clock.now_ms()})
    assert polling.dispatch_due_polls().timed_out == 1


def test_a_lane_entry_of_a_task_that_is_not_held_is_handed_to_the_dispatcher(mem: World) -> None:
    """Entries written before the dispatcher checked deadlines: every task in flight had one."""
    mem.add_channel(1)
    start = NOW + timeout_ms() + 60_000
    early = submission.create_tasks(mem.principal, [spec()])[0]
    later = submission.create_tasks(mem.principal, [spec(start_at_ms=start, fields={"scheduled_ms": start})])[0]
    lane = task_store.shard_for
    mem.repos.tasks.update(early, {"due_lane": lane(early.task_id)})
    mem.repos.tasks.update(later, {"due_lane": lane(later.task_id), "due_at": NOW + timeout_ms()})  # as before
    clock.set_now(NOW + timeout_ms() + 1)
    report = sweeper.sweep_timeouts()
    assert (report.timed_out, report.deferred) == ([early.task_id], [later.task_id])
    stored = mem.repos.tasks.get(later.task_id)
    assert (stored.status, stored.due_lane, int(stored.due_at)) == (states.NOT_START, None, start + timeout_ms())
    assert sweeper.sweep_timeouts() == sweeper.SweepReport()


def test_a_finished_task_is_not_timed_out(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert mem.repos.tasks.transition(task, states.SUCCESS)
    clock.set_now(NOW + timeout_ms() + 1)
    assert sweeper.sweep_timeouts().timed_out == []
    assert polling.dispatch_due_polls().timed_out == 0
    assert sweeper.deadline_ms(mem.repos.tasks.get(task.task_id)) is None
