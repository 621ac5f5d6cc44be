"""Storage never calls upward: `store.tasks.transition` only says whether it won; the lifecycle code that
called it runs the platform's terminal hook, once, for the winner (issue 13 item 2, docs/architecture.md)."""

from __future__ import annotations

import dataclasses

from taskcenter.domain import states
from taskcenter.services import platforms
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import lifecycle
from taskcenter.store import tasks as task_store

from tests.engine_support import FakeUpstream, install_fake_upstream, new_charged_task


def _record_terminal(monkeypatch) -> list[str]:
    seen: list[str] = []
    row = platforms.TABLE["suno"]
    monkeypatch.setitem(platforms.TABLE, "suno", dataclasses.replace(row, on_terminal=lambda t: seen.append(t.task_id)))
    return seen


def test_the_terminal_hook_runs_in_lifecycle_for_the_winner_only_never_in_storage(world, frozen_clock, monkeypatch):
    install_fake_upstream(monkeypatch, FakeUpstream())
    channel = admin.create_channel("suno", "https://suno.example.com", name="suno-a")["id"]
    seen = _record_terminal(monkeypatch)
    user = world.user

    stored = new_charged_task(user, channel, status=states.IN_PROGRESS)
    assert task_store.transition(stored, states.SUCCESS) is True
    assert seen == []  # storage moved it and called nobody

    moved = new_charged_task(user, channel, status=states.IN_PROGRESS)
    stale = task_store.get(moved.task_id)
    assert lifecycle.move(moved, states.SUCCESS) is True
    assert seen == [moved.task_id]
    assert lifecycle.move(stale, states.FAILURE, fail_reason="late") is False  # lost the race: no hook
    assert seen == [moved.task_id]

    failed = new_charged_task(user, channel, status=states.IN_PROGRESS)
    assert lifecycle.fail_task(failed, "upstream said no") is True
    assert seen == [moved.task_id, failed.task_id] and failed.billing == states.BILLING_REFUND_PENDING
    assert lifecycle.fail_task(failed, "again") is False and len(seen) == 2
