"""Freshness on the local stack: how long after the upstream finishes a task does the client see it done.

Starts the local stack (moto server, API, event runner, simulators, as `make local`), submits FRESHNESS_TASKS
Suno tasks over HTTP, and has a client fetch each one every 0.2 s. For every task: the moment the client first
saw SUCCESS minus the moment the simulated upstream finished it (the simulator's own `finish_time`, read
from the simulator; both clocks are this machine's). The poller runs as deployed: a first poll
FIRST_POLL_SECONDS after submission, then fast-lane re-polls while the task moves; schedules at their
template rates (no speed-up), so this is what a user would see.

Run: `.venv/bin/python -m tests.bench freshness` (about a minute).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

TASKS = int(os.environ.get("FRESHNESS_TASKS", "8"))
DEADLINE_S = 120.0


def _upstream_finish(stack: Any, task_id: str) -> float | None:
    """The simulator's finish_time (seconds) of our task, found through its upstream id."""
    for key, value in stack.env.items():
        os.environ[key] = value
    from taskcenter.store.models import Task

    task = Task.get(task_id, consistent_read=True)
    sim = stack.components.get("suno-sim")
    request = urllib.request.Request(f"{sim}/suno/fetch/{task.upstream_id}",
                                     headers={"Authorization": "Bearer sim-secret"})
    with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - the local simulator
        item = json.loads(reply.read())["data"]
    finish = item.get("finish_time") if isinstance(item, dict) else None
    return float(finish) if finish else None


def rows() -> list[dict[str, Any]]:
    from tests.e2e.conftest import RunningStack, _account, start_stack, stop_stack

    state_dir = Path(tempfile.mkdtemp(prefix="freshness-"))
    proc, doc = start_stack(state_dir)
    try:
        stack = RunningStack(api_url=doc["api_url"], moto_url=doc["moto_url"], admin=_account(doc["admin"]),
                             demo=_account(doc["demo"]), channels=doc["channels"], components=doc["components"],
                             env=doc["env"], state_dir=state_dir, raw=doc)
        relay = stack.demo.relay_headers()
        pending: dict[str, float] = {}
        for i in range(TASKS):
            status, body = stack.post("/suno/submit/music", {"prompt": f"freshness probe {i}"}, headers=relay)
            if status == 200:
                pending[body["data"]] = time.time()
        seen: dict[str, float] = {}
        deadline = time.monotonic() + DEADLINE_S
        while pending.keys() - seen.keys() and time.monotonic() < deadline:
            for task_id in list(pending.keys() - seen.keys()):
                status, body = stack.get(f"/suno/fetch/{task_id}", headers=relay)
                if status == 200 and body["data"]["status"] in ("SUCCESS", "FAILURE"):
                    seen[task_id] = time.time()
            time.sleep(0.2)  # the client's polling interval
        lags = []
        for task_id, visible_at in seen.items():
            finished = _upstream_finish(stack, task_id)
            if finished:
                lags.append(max(0.0, visible_at - finished))
    finally:
        stop_stack(proc)
    if not lags:
        return [{"metric": "freshness: upstream done -> visible", "value": "no task finished", "unit": ""}]
    lags.sort()
    return [
        {"metric": "freshness: upstream done -> visible (median)", "value": f"{statistics.median(lags):.1f}",
         "unit": "s", "target": "about 10", "note": f"{len(lags)} of {TASKS} Suno tasks on the local stack; "
         "upstream finish_time has 1 s resolution"},
        {"metric": "freshness: upstream done -> visible (max)", "value": f"{lags[-1]:.1f}", "unit": "s",
         "target": "about 10"},
    ]
