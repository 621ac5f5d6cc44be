"""The poll path (services/jobs/polling.py, services/core/upstream_state.py) on the in-memory repositories:
no moto, no network (tests/unit/test_unit_isolation.py runs this file in a fresh interpreter and checks it).
The same rules on moto: tests/integration/test_engine_polling.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from taskcenter import clock, settings
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.providers.base import ChannelInfo, UpstreamState
from taskcenter.services.core import submission
from taskcenter.services.jobs import polling

from tests.unit.memory_world import USER, World, spec


@pytest.fixture
def upstream(mem: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, UpstreamState]:
    """What the upstream reports per upstream id (an id left out: the upstream did not return it)."""
    reports: dict[str, UpstreamState] = {}

    class Reporting:
        def __init__(self, channel: ChannelInfo) -> None:
            self.channel = channel

        def submit(self, request: Any) -> Any:
            from taskcenter.providers.base import SubmitResult

            reports[f"up-{request.task_id}"] = UpstreamState(f"up-{request.task_id}", states.SUBMITTED)
            return SubmitResult(upstream_id=f"up-{request.task_id}")

        def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
            return {u: reports[u] for u in upstream_ids if u in reports}

        def cancel(self, upstream_id: str) -> bool:
            return False

    from taskcenter.services import platforms

    monkeypatch.setitem(platforms.TABLE, "suno", dataclasses.replace(platforms.TABLE["suno"], provider=Reporting))
    mem.add_channel(1)
    return reports


def poll(task: Any) -> str:
    return polling.poll_batch(polling.PollMessage(int(task.channel_id), [task.task_id])).outcomes[task.task_id]


def user_total(mem: World, status: str) -> int:
    return mem.repos.counters.read(listing.counter_names_for_read("lu", f"u#{USER}#task", status)).total


def test_a_task_followed_to_success_writes_only_what_changed(mem: World, upstream: dict[str, UpstreamState]) -> None:
    task = submission.submit_now(mem.principal, spec())
    version = int(mem.repos.tasks.get(task.task_id).version)
    scheduled = int(mem.repos.tasks.get(task.task_id).next_poll_at)
    assert poll(task) == polling.UNCHANGED
    assert int(mem.repos.tasks.get(task.task_id).version) == version  # an unchanged poll writes nothing

    clock.set_now(clock.now_ms() + 20_000)
    upstream[task.upstream_id] = UpstreamState(task.upstream_id, states.IN_PROGRESS, progress="30%", data={"a": 1})
    assert poll(task) == polling.MOVED
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.progress, stored.data, int(stored.start_ms)) == \
        (states.IN_PROGRESS, "30%", {"a": 1}, clock.now_ms())
    assert int(stored.next_poll_at) == scheduled  # its poll_due entry is kept, not re-keyed

    clock.set_now(clock.now_ms() + 60_000)
    upstream[task.upstream_id] = UpstreamState(task.upstream_id, states.IN_PROGRESS, progress="60%")
    assert poll(task) == polling.UPDATED
    assert mem.repos.tasks.get(task.task_id).progress == "60%"

    upstream[task.upstream_id] = UpstreamState(task.upstream_id, states.SUCCESS, data={"clips": [1]})
    assert poll(task) == polling.MOVED
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.progress, stored.next_poll_at, stored.data) == \
        (states.SUCCESS, "100%", None, {"clips": [1]})
    assert (user_total(mem, states.SUCCESS), user_total(mem, states.IN_PROGRESS)) == (1, 0)
    assert not mem.messages("refund")


def test_upstream_failure_moves_once_and_queues_one_refund(mem: World, upstream: dict[str, UpstreamState]) -> None:
    task = submission.submit_now(mem.principal, spec())
    stale = mem.repos.tasks.get(task.task_id)
    upstream[task.upstream_id] = UpstreamState(task.upstream_id, states.FAILURE, fail_reason="boom")
    assert poll(task) == polling.MOVED
    assert polling.apply_upstream_state(stale, upstream[task.upstream_id]) == polling.LOST_RACE
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.fail_reason, stored.billing) == (states.FAILURE, "boom",
                                                                   states.BILLING_REFUND_PENDING)
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]


def test_a_task_the_upstream_forgets_fails_after_the_misses(mem: World, upstream: dict[str, UpstreamState]) -> None:
    task = submission.submit_now(mem.principal, spec())
    del upstream[task.upstream_id]
    for miss in range(1, settings.get().poll_max_misses):
        assert poll(mem.repos.tasks.get(task.task_id)) == polling.UPDATED
        assert int(mem.repos.tasks.get(task.task_id).poll_misses) == miss
    assert poll(mem.repos.tasks.get(task.task_id)) == polling.MOVED
    assert mem.repos.tasks.get(task.task_id).status == states.FAILURE


def test_the_dispatcher_sends_due_tasks_and_holds_deferred_starts(mem: World,
                                                                  upstream: dict[str, UpstreamState]) -> None:
    running = submission.submit_now(mem.principal, spec())
    waiting = submission.submit_now(mem.principal, spec())
    stored = mem.repos.tasks.get(waiting.task_id)
    assert mem.repos.tasks.transition(stored, states.NOT_START)
    assert mem.repos.tasks.hold_until(stored, clock.now_ms())
    clock.set_now(clock.now_ms() + (settings.get().poll_fast_window_seconds + 60) * 1000)
    mem.sent.clear()
    report = polling.dispatch_due_polls()
    assert (report.polled, report.retries) == (1, 1)
    assert [m["task_ids"] for m in mem.messages("poll")] == [[running.task_id]]
    hold = clock.now_ms() + settings.get().retry_claim_seconds * 1000
    assert mem.messages("retry") == [{"task_id": waiting.task_id, "attempt": 1, "reason": "start",
                                      "hold_until": hold}]
    assert int(mem.repos.tasks.get(waiting.task_id).next_poll_at) == hold  # not found due again meanwhile
