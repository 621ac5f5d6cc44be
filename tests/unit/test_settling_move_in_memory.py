"""core/lifecycle.move's settling path (docs/video.md, "Pricing and settlement") on the in-memory repositories:
a platform row with a `settled_charge` hook has its price settled in the move itself; a process dying right
after the move leaves it settled; a hook that raises never blocks the move (the submitted price stands). The
same on moto with the Sora simulator and the real video hook: tests/integration/test_video_settlement.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.services.core import lifecycle, submission

from tests.unit.memory_world import FUNDS, World, spec


class Crash(BaseException):
    """The process dying: nothing after the raise runs."""


def price_by_seconds(task: Any, data: Any) -> int | None:
    """A stand-in for the video rows' hook: 100 a second of what the result reports."""
    seconds = (data or {}).get("seconds") if isinstance(data, dict) else None
    return None if task.billing != states.BILLING_CHARGED or seconds is None else int(seconds) * 100


def settling_row(monkeypatch: pytest.MonkeyPatch, hook: Any) -> None:
    from taskcenter.services import platforms

    monkeypatch.setitem(platforms.TABLE, "suno", dataclasses.replace(platforms.TABLE["suno"], settled_charge=hook))


@pytest.fixture
def submitted(mem: World) -> Any:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert task.status not in states.TERMINAL and task.billing == states.BILLING_CHARGED and int(task.quota) > 0
    return task


def test_the_move_to_success_settles_in_the_same_step(mem: World, submitted: Any, monkeypatch) -> None:
    settling_row(monkeypatch, price_by_seconds)
    assert lifecycle.move(submitted, states.SUCCESS, {"data": {"seconds": 7}})
    stored = mem.repos.tasks.get(submitted.task_id)
    assert (stored.status, int(stored.quota), stored.settled_ms is not None) == (states.SUCCESS, 700, True)
    assert mem.balance() == (FUNDS - 700, 700)


def test_a_crash_right_after_the_move_leaves_it_settled(mem: World, submitted: Any, monkeypatch) -> None:
    settling_row(monkeypatch, price_by_seconds)

    def die(task: Any) -> None:
        raise Crash(task.task_id)

    monkeypatch.setattr(lifecycle, "run_terminal_hook", die)  # the first thing the winner runs after the move
    with pytest.raises(Crash):
        lifecycle.move(submitted, states.SUCCESS, {"data": {"seconds": 7}})
    assert int(mem.repos.tasks.get(submitted.task_id).quota) == 700
    assert mem.balance() == (FUNDS - 700, 700)


def test_a_pricing_error_never_blocks_the_move(mem: World, submitted: Any, monkeypatch) -> None:
    def broken(task: Any, data: Any) -> int | None:
        raise KeyError("no such price")

    settling_row(monkeypatch, broken)
    charged = int(submitted.quota)
    assert lifecycle.move(submitted, states.SUCCESS, {"data": {"seconds": 7}})
    stored = mem.repos.tasks.get(submitted.task_id)
    assert (stored.status, int(stored.quota), stored.settled_ms) == (states.SUCCESS, charged, None)
    assert mem.balance() == (FUNDS - charged, charged)
