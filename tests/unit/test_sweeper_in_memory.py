"""The timeout sweeper's rules (services/jobs/sweeper.py) on the in-memory repositories: no moto, no network.
On moto: tests/integration/test_engine_recovery.py."""

from __future__ import annotations

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.services.core import submission
from taskcenter.services.jobs import sweeper

from tests.unit.memory_world import FUNDS, NOW, World, spec


def timeout_ms() -> int:
    return settings.get().task_timeout_seconds * 1000


def test_a_task_past_its_deadline_fails_once_with_settled_data_and_its_refund_queued(mem: World) -> None:
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    mem.repos.tasks.update(task, {"data": [{"status": "streaming", "progress": "40%"}]})
    clock.set_now(NOW + timeout_ms() + 1)
    report = sweeper.sweep_timeouts()
    assert report.timed_out == [task.task_id] and report.deferred == []
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.billing) == (states.FAILURE, states.BILLING_REFUND_PENDING)
    assert stored.fail_reason == sweeper.timeout_reason()
    assert stored.data == [{"status": "error", "progress": "100%"}]
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]
    assert sweeper.sweep_timeouts().timed_out == []  # out of its deadline lane: swept once
    assert not sweeper.time_out(task)  # a late loser does nothing
    assert len(mem.messages("refund")) == 1
    assert mem.balance()[0] == FUNDS - submission.price_of(spec(), "default")  # the refund worker pays it


def test_a_scheduled_task_gets_its_deadline_moved_to_start_plus_the_limit(mem: World) -> None:
    mem.add_channel(1)
    start = NOW + timeout_ms() + 60_000
    task = submission.create_tasks(mem.principal, [spec(start_at_ms=start, fields={"scheduled_ms": start})])[0]
    clock.set_now(NOW + timeout_ms() + 1)
    report = sweeper.sweep_timeouts()
    assert report.deferred == [task.task_id] and report.timed_out == []
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, int(stored.due_at)) == (states.NOT_START, start + timeout_ms())
    assert sweeper.sweep_timeouts().deferred == []


def test_a_finished_task_is_not_swept(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert mem.repos.tasks.transition(task, states.SUCCESS)
    clock.set_now(NOW + timeout_ms() + 1)
    assert sweeper.sweep_timeouts().timed_out == []
