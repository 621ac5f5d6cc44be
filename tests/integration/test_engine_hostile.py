"""The engine against hostile upstream results (found by hostile testing, 4 Dec 2026)."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.services.admin import operations as admin
from taskcenter.store import item_size, money
from taskcenter.store import tasks as task_store

from tests.engine_support import (
    SCHEDULE_EVENT,
    FakeUpstream,
    drain,
    install_fake_upstream,
    new_charged_task,
    run_queue,
    sqs_event,
)


@pytest.fixture
def engine_world(world: Any, frozen_clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")
    monkeypatch.setenv("FIRST_POLL_SECONDS", "0")
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    world.channels["suno"] = admin.create_channel("suno", "https://suno.example.com", name="suno-a")["id"]
    world.extra["upstream"] = upstream
    return world


def test_a_timed_out_task_whose_result_nearly_fills_its_item_fails_without_stopping_the_dispatcher(
        engine_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing out settles the result (every progress "100%"), which grew an item stored near DynamoDB's 400 KB
    past it: the write failed, the dispatcher raised before sending any poll, every minute, and no overdue
    task after it was failed or refunded. Now the settled result is kept as far as the item holds it."""
    from functions import jobs

    monkeypatch.setenv("TASK_TIMEOUT_SECONDS", "3600")
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    now = clock.now_ms()
    big = new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=now)
    other = new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=now)
    clips = [{"progress": "1%"} for _ in range(18_500)]  # ~370 KB: stored, with the room kept for updates
    up.set(big.upstream_id, states.IN_PROGRESS, progress="1%", data={"clips": clips})
    clock.advance(60)
    jobs.poll_worker(sqs_event([{"channel_id": ch, "task_ids": [big.task_id]}]), None)
    stored = task_store.get(big.task_id)
    assert stored.data == {"clips": clips} and item_size.fits(item_size.model_size(stored))
    drain("poll")

    clock.advance(3600)  # both past their deadline
    report = jobs.poll_dispatcher(SCHEDULE_EVENT, None)
    assert report["timed_out"] == 2
    assert task_store.get(other.task_id).status == task_store.get(big.task_id).status == states.FAILURE
    assert "omitted" in task_store.get(big.task_id).data  # the settled result did not fit: a marker instead
    run_queue("refund", jobs.refund_worker)
    assert money.audit_user(user.user_id).ok and money.refund_task(big.task_id, 1) is False  # refunded once


def test_stale_tasks_past_the_dispatch_limit_are_polled_within_a_few_runs(engine_world: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """More open stale tasks in a shard than POLL_DISPATCH_LIMIT (5,000 by default): an unchanged poll writes
    nothing, so the oldest stay the oldest, and the dispatcher read the same ones every minute; a task behind
    them was never polled (found by hostile testing). A run that read the limit is followed by one that goes on
    after it. The limit is patched small here: what is tested is where the next run starts."""
    from taskcenter import settings
    from taskcenter.services.jobs import polling

    from functions import jobs

    monkeypatch.setattr(polling, "_resume_after", {})  # a fresh dispatcher instance
    monkeypatch.setenv("POLL_SHARDS", "1")
    monkeypatch.setenv("POLL_DISPATCH_LIMIT", "2")
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    tasks = []
    for _ in range(3):
        tasks.append(new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=clock.now_ms()))
        clock.advance(1)
    for task in tasks:
        up.set(task.upstream_id, states.IN_PROGRESS)
    clock.advance(settings.get().poll_fast_window_seconds + 1)  # all stale: the slow lane has them
    late = tasks[-1]
    up.set(late.upstream_id, states.SUCCESS)
    for _ in range(3):
        jobs.poll_dispatcher(SCHEDULE_EVENT, None)
        run_queue("poll", jobs.poll_worker)
        drain("poll")
        clock.advance(60)
    assert task_store.get(late.task_id).status == states.SUCCESS  # reached by the second run
    assert {i for call in up.fetch_calls for i in call} >= {t.upstream_id for t in tasks[:2]}
