"""The chaos run's recount of the listing counters (tests/chaos/checks.py, counter_checks): it agrees with
counters the transactions kept, and finds a counter that drifted."""

from __future__ import annotations

from typing import Any

from taskcenter.domain import states
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Counter, Task

from tests.chaos.checks import counter_checks
from tests.integration.suno_support import write_tasks


def test_the_recount_agrees_with_the_transactions_and_finds_a_drift(world: Any) -> None:
    write_tasks([{"task_id": f"task_{i}", "numeric_id": 100 + i, "kind": "task", "platform": "suno",
                  "user_id": world.user.user_id, "action": "MUSIC", "status": states.SUBMITTED,
                  "channel_id": 1 + i % 2, "submit_ms": 1_700_000_000_000 + i * 900_000} for i in range(8)])
    moved = Task.get("task_3")
    assert task_store.transition(moved, states.SUCCESS, channel_id=2)
    checks, figures = counter_checks()
    assert checks[0].ok, checks[0].detail
    assert figures["listing counters recounted"] > 0
    drifted = next(c for c in Counter.scan() if c.name.startswith("n#") and "#ALL#h" in c.name)
    drifted.update(actions=[Counter.value.add(1)])
    checks, figures = counter_checks()
    assert not checks[0].ok and figures["listing counters wrong"] == 1 and drifted.name in checks[0].detail
