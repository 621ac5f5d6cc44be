"""End to end on the local stack over HTTP: the engine follows a mix of tasks to the end, per platform
whose simulator the stack runs (Suno, Midjourney).

Its own stack (python -m infra.local), with the engine's clocks shortened so a run takes seconds:
schedules x0.05 (dispatcher every 3 s), chain delay 1 s, fast window 4 s, 2 misses, refund grace 5 s,
failed messages retried at once. Tasks go through the relay to the simulator: some succeed, some fail
upstream (`sim:fail`), some are forgotten by the upstream (`sim:vanish`), some are delayed (Suno:
latency on every answer; Midjourney: `sim:queued`), one is refused at submission. Every task must end
SUCCESS or FAILURE, every failed one be refunded exactly once (ledger), the audit hold, and the
dead-letter queues stay empty.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
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
    "MJ_SIM_STEP_SECONDS": "1",
}
DEADLINE_S = 120.0


@dataclass(frozen=True)
class Platform:
    """How to drive one platform's relay: submit a prompt, read a task's status."""

    channel_type: str
    prompts: tuple[str, ...]  # "sim:fail" fails upstream, "sim:vanish" is forgotten, "sim:queued" starts late
    refused_prompt: str  # refused at submission: never charged, no task left (docs/decisions.md, "Money")
    sim_knobs: dict[str, Any]

    def submit(self, stack: RunningStack, prompt: str) -> tuple[bool, str]:
        headers = stack.demo.relay_headers()
        if self.channel_type == "suno":
            status, body = stack.post("/suno/submit/music", {"prompt": prompt}, headers=headers)
            ok = status == 200 and isinstance(body, dict) and body.get("code") == "success"
            return ok, (body or {}).get("data") if ok else f"{status} {body}"
        status, body = stack.post("/mj/submit/imagine", {"prompt": prompt}, headers=headers)
        ok = status == 200 and isinstance(body, dict) and body.get("code") in (1, 22)
        return ok, str(body.get("result")) if ok else f"{status} {body}"

    def view(self, stack: RunningStack, task_id: str) -> dict[str, str]:
        headers = stack.demo.relay_headers()
        if self.channel_type == "suno":
            status, body = stack.get(f"/suno/fetch/{task_id}", headers=headers)
            item = body["data"]
            return {"status": item["status"], "fail_reason": item.get("fail_reason") or "",
                    "progress": item.get("progress") or ""}
        status, body = stack.get(f"/mj/task/{task_id}/fetch", headers=headers)
        return {"status": body["status"], "fail_reason": body.get("failReason") or "",
                "progress": body.get("progress") or ""}


PLATFORMS = {
    "suno": Platform("suno", ("a calm song", "sim:fail now", "a loud song", "sim:vanish soon", "jazz",
                              "sim:fail later", "sim:vanish too", "rock"), "sim:reject this", {"latency_s": 0.2}),
    "midjourney": Platform("midjourney", ("a cat", "sim:fail a dog", "a bird", "sim:vanish a fish",
                                          "sim:queued a horse", "sim:fail a cow", "sim:vanish a frog", "a fox"),
                           "sim:busy a mouse", {"step_seconds": 1.0}),
}


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


def _channel(stack: RunningStack, channel_type: str) -> dict[str, Any]:
    found = [c for c in stack.channels if c.get("type") == channel_type]
    assert found, f"the local stack has no {channel_type} simulator channel (components: {sorted(stack.components)})"
    return found[0]


def _sim_config(base_url: str, **knobs: Any) -> None:
    req = urllib.request.Request(base_url.rstrip("/") + "/sim/config", data=json.dumps(knobs).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_mixed_tasks_end_refunded_exactly_once_and_audit_holds(engine_stack: RunningStack, platform: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PLATFORMS[platform]
    channel = _channel(engine_stack, spec.channel_type)
    _sim_config(channel["base_url"], **spec.sim_knobs)
    submitted: dict[str, str] = {}
    for prompt in spec.prompts:
        ok, task_id = spec.submit(engine_stack, prompt)
        assert ok, (prompt, task_id)
        submitted[task_id] = prompt
    ok, reply = spec.submit(engine_stack, spec.refused_prompt)
    assert not ok, reply  # refused upstream: never charged, no task left

    views: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        views = {t: spec.view(engine_stack, t) for t in submitted}
        if all(v["status"] in ("SUCCESS", "FAILURE") for v in views.values()):
            break
        time.sleep(1.0)  # real time: the event runner drives the engine
    unfinished = {t: v["status"] for t, v in views.items() if v["status"] not in ("SUCCESS", "FAILURE")}
    assert not unfinished, f"not finished after {DEADLINE_S:.0f} s: {unfinished}; see {engine_stack.state_dir}/logs"
    for task_id, prompt in submitted.items():
        expected = "FAILURE" if ("sim:fail" in prompt or "sim:vanish" in prompt) else "SUCCESS"
        assert views[task_id]["status"] == expected, (prompt, views[task_id])
        if expected == "FAILURE":
            assert views[task_id]["fail_reason"] and views[task_id]["progress"] == "100%"
        if "sim:vanish" in prompt:
            assert "no longer knows" in views[task_id]["fail_reason"]

    # the money, read straight from the stack's tables
    engine_stack.use_env(monkeypatch)
    from taskcenter.domain import states
    from taskcenter.store import money
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import LedgerEntry

    user_id = engine_stack.demo.user_id
    failed = {t for t, v in views.items() if v["status"] == "FAILURE"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the refund queue may still be draining
        if all(task_store.get(t).billing == states.BILLING_REFUNDED for t in failed):
            break
        time.sleep(0.5)
    refunds = Counter(e.task_id for e in LedgerEntry.query(user_id, consistent_read=True) if e.kind == "refund")
    assert all(n == 1 for n in refunds.values()), refunds  # never twice, whatever the task
    assert {t for t in refunds if t in submitted} == failed  # every failed task, no succeeded one
    assert money.audit_user(user_id).ok

    import boto3

    sqs = boto3.client("sqs", endpoint_url=engine_stack.moto_url, region_name="us-east-1")
    for variable in ("POLL_QUEUE_DLQ_URL", "REFUND_QUEUE_DLQ_URL", "RETRY_QUEUE_DLQ_URL"):
        url = engine_stack.env.get(variable)
        if url:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", variable
