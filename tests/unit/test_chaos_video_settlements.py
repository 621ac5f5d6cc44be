"""The chaos run's video settlement check (tests/chaos/checks.py, `video_settlements`) flags what it is meant to:
a succeeded video that produced another length than it was charged for and has no settlement, or a wrong one;
and passes a correct settlement and a video with nothing to settle (pure: built tasks, no stack)."""

from __future__ import annotations

from taskcenter.domain import states
from taskcenter.store import tasks as task_store

from tests.chaos.checks import video_settlements

PER_SECOND = 50_000  # sora-2, 720x1280 (docs/video.md)


def video(task_id: str, produced_seconds: str, quota: int, *, settled: bool) -> object:
    task = task_store.build_task(task_id=task_id, numeric_id=1, kind="task", platform="sora", user_id=2,
                                 action="generate", status=states.SUCCESS, quota=quota,
                                 properties={"model": "sora-2", "size": "720x1280", "seconds": "4"})
    task.data = {"seconds": produced_seconds, "size": "720x1280"}
    task.settled_ms = 1 if settled else None
    return task


def test_a_right_settlement_and_nothing_to_settle_pass() -> None:
    tasks = {"a": video("a", "8", 8 * PER_SECOND, settled=True), "b": video("b", "4", 4 * PER_SECOND, settled=False)}
    charges = {("a", 1): 4 * PER_SECOND, ("b", 1): 4 * PER_SECOND}
    owed, wrong = video_settlements(tasks, set(charges), charges, {("a", 1): 4 * PER_SECOND})
    assert (owed, wrong) == ([("a", 1)], [])


def test_a_lost_or_wrong_settlement_is_flagged() -> None:
    tasks = {"lost": video("lost", "8", 4 * PER_SECOND, settled=False),
             "short": video("short", "8", 8 * PER_SECOND, settled=True),
             "extra": video("extra", "4", 4 * PER_SECOND, settled=True)}
    charges = {(t, 1): 4 * PER_SECOND for t in tasks}
    owed, wrong = video_settlements(tasks, set(charges), charges, {("short", 1): PER_SECOND, ("extra", 1): 1})
    assert sorted(owed) == [("lost", 1), ("short", 1)]
    assert sorted(w[0] for w in wrong) == ["extra", "lost", "short"]
