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
