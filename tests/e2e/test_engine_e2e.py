"""End to end on the local stack over HTTP: the engine follows a mix of Suno tasks to the end.

Its own stack (python -m infra.local), with the engine's clocks shortened so a run takes seconds:
schedules x0.05 (dispatcher every 3 s), chain delay 1 s, fast window 4 s, 2 misses, refund grace 5 s,
failed messages retried at once. Tasks go through the Suno relay to the Suno simulator: some succeed,
some fail upstream (`sim:fail`), some are forgotten by the upstream (`sim:vanish`), one is refused at
submission (`sim:reject`), and the simulator answers every request with latency. Every task must end
SUCCESS or FAILURE, every failed one be refunded exactly once (ledger), the audit hold, and the
dead-letter queues stay empty.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, _account, start_stack, stop_stack

ENGINE_ENV = {
    "LOCAL_SCHEDULE_SCALE": "0.05",
    "LOCAL_VISIBILITY_SCALE": "0",
    "POLL_CHAIN_DELAY_SECONDS": "1",
    "FIRST_POLL_SECONDS": "1",
    "POLL_FAST_WINDOW_SECONDS": "4",
    "POLL_MAX_MISSES": "2",
    "REFUND_GRACE_SECONDS": "5",
    "SUNO_SIM_STEP_SECONDS": "1,1,2",
}
PROMPTS = ["a calm song", "sim:fail now", "a loud song", "sim:vanish soon", "jazz", "sim:fail later",
           "sim:vanish too", "rock", "blues", "folk"]
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def engine_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    mp = pytest.MonkeyPatch()
    for name, value in ENGINE_ENV.items():
        mp.setenv(name, value)
    state_dir: Path = tmp_path_factory.mktemp("engine-stack")
    try:
        proc, doc = start_stack(state_dir)
    finally:
        mp.undo()  # start_stack copied the environment
    try:
        yield RunningStack(api_url=doc["api_url"], moto_url=doc["moto_url"], admin=_account(doc["admin"]),
                           demo=_account(doc["demo"]), channels=doc["channels"], components=doc["components"],
                           env=doc["env"], state_dir=state_dir, raw=doc)
    finally:
        stop_stack(proc)


def _suno_channel(stack: RunningStack) -> dict[str, Any]:
    suno = [c for c in stack.channels if c.get("type") == "suno"]
    if not suno:
        pytest.skip(f"the local stack has no Suno simulator component yet (components: {sorted(stack.components)})")
    return suno[0]


def _sim_config(base_url: str, **knobs: Any) -> None:
    req = urllib.request.Request(base_url.rstrip("/") + "/sim/config", data=json.dumps(knobs).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200


def test_mixed_tasks_end_refunded_exactly_once_and_audit_holds(engine_stack: RunningStack,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    channel = _suno_channel(engine_stack)
    _sim_config(channel["base_url"], latency_s=0.2)  # every upstream answer is delayed
    headers = engine_stack.demo.relay_headers()
    submitted: dict[str, str] = {}
    for prompt in PROMPTS:
        status, body = engine_stack.post("/suno/submit/music", {"prompt": prompt}, headers=headers)
        assert status == 200, body
        submitted[body["data"]] = prompt
    status, body = engine_stack.post("/suno/submit/music", {"prompt": "sim:reject this"}, headers=headers)
    assert 400 <= status < 500, body  # refused upstream: failed and refunded in the request

    views: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        status, body = engine_stack.post("/suno/fetch", {"ids": list(submitted)}, headers=headers)
        assert status == 200, body
        views = {item["task_id"]: item for item in body["data"]}
        if len(views) == len(submitted) and all(v["status"] in ("SUCCESS", "FAILURE") for v in views.values()):
            break
        time.sleep(1.0)  # real time: the event runner drives the engine
    unfinished = {t: v["status"] for t, v in views.items() if v["status"] not in ("SUCCESS", "FAILURE")}
    assert not unfinished, f"not finished after {DEADLINE_S:.0f} s: {unfinished}; see {engine_stack.state_dir}/logs"
    for task_id, prompt in submitted.items():
        expected = "FAILURE" if "sim:" in prompt else "SUCCESS"
        assert views[task_id]["status"] == expected, (prompt, views[task_id])
        if expected == "FAILURE":
            assert views[task_id]["fail_reason"] and views[task_id]["progress"] == "100%"

    # the money, read straight from the stack's tables
    engine_stack.use_env(monkeypatch)
    from taskcenter.domain import states
    from taskcenter.store import money
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import LedgerEntry

    user_id = engine_stack.demo.user_id
    failed = {t for t, p in submitted.items() if "sim:" in p}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the refund queue may still be draining
        if all(task_store.get(t).billing == states.BILLING_REFUNDED for t in failed):
            break
        time.sleep(0.5)
    refunds = [e for e in LedgerEntry.query(user_id, consistent_read=True) if e.kind == "refund"]
    refunded = [e.task_id for e in refunds if e.task_id in submitted]
    assert sorted(refunded) == sorted(failed)  # each failed task exactly once, no succeeded one
    assert len(refunds) == len(failed) + 1  # plus the refused submission
    assert money.audit_user(user_id).ok

    import boto3

    sqs = boto3.client("sqs", endpoint_url=engine_stack.moto_url, region_name="us-east-1")
    for variable in ("POLL_QUEUE_DLQ_URL", "REFUND_QUEUE_DLQ_URL", "RETRY_QUEUE_DLQ_URL"):
        url = engine_stack.env.get(variable)
        if url:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", variable
