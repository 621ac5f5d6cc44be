"""The engine with the real Suno provider against the Suno simulator (in-process moto, Chalice test client).

A mix of tasks through the relay: some succeed, some fail upstream, some are forgotten by the upstream,
one is refused at submission. The jobs run as the event runner would run them (dispatcher, then the
queues drained with partial failures), with both clocks moved together. Every task ends SUCCESS or
FAILURE, every failed one is refunded exactly once, and the ledger audit holds.
"""

from __future__ import annotations

import json

from taskcenter import clock
from taskcenter.domain import states
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry

from tests.engine_support import SCHEDULE_EVENT, run_queue
from tests.integration import suno_support

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

PROMPTS = ["a calm song", "sim:fail please", "a loud song", "sim:vanish soon", "jazz", "sim:fail again",
           "sim:vanish too", "rock"]


def test_mixed_suno_tasks_all_end_and_failed_ones_are_refunded_once(suno_world, suno_sim, client, frozen_clock,
                                                                     monkeypatch):
    from functions import jobs

    for name, value in {"POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0", "POLL_MAX_MISSES": "2",
                        "POLL_FAST_WINDOW_SECONDS": "10", "REFUND_GRACE_SECONDS": "30"}.items():
        monkeypatch.setenv(name, value)
    headers = suno_world.user.relay_headers()
    submitted: list[str] = []
    for prompt in PROMPTS:
        reply = client.http.post("/suno/submit/music", headers=headers, body=json.dumps({"prompt": prompt}))
        assert reply.status_code == 200, reply.body
        submitted.append(json.loads(reply.body)["data"])
    suno_sim.script_submits(500)  # the one channel fails: the waiting client gets an error, nothing is charged
    refused = client.http.post("/suno/submit/music", headers=headers, body=json.dumps({"prompt": "unlucky"}))
    assert refused.status_code >= 500

    suno_support.run_engine(suno_sim, submitted, rounds=60)
    tasks = {t: task_store.get(t) for t in submitted}
    assert all(t.status in states.TERMINAL for t in tasks.values()), {t: x.status for t, x in tasks.items()}
    for task_id, prompt in zip(submitted, PROMPTS, strict=True):
        expected = states.SUCCESS if "sim:" not in prompt else states.FAILURE
        assert tasks[task_id].status == expected, (prompt, tasks[task_id].fail_reason)
        if "sim:vanish" in prompt:
            assert "no longer knows" in tasks[task_id].fail_reason
    for task in tasks.values():
        if task.status == states.SUCCESS:
            assert task.progress == "100%" and task.data and task.billing == states.BILLING_CHARGED

    clock.advance(60)
    jobs.reconciler(SCHEDULE_EVENT, None)  # nothing owed any more
    run_queue("refund", jobs.refund_worker)
    refunds = [e for e in LedgerEntry.query(suno_world.user.user_id, consistent_read=True) if e.kind == "refund"]
    failed = [t for t, x in tasks.items() if x.status == states.FAILURE]
    assert len(failed) == 4
    assert sorted(e.task_id for e in refunds if e.task_id in tasks) == sorted(failed)  # once each
    assert len(refunds) == len(failed)  # the task refused at submission was never charged (issue 14)
    assert len([e for e in LedgerEntry.query(suno_world.user.user_id) if e.kind == "charge"]) == len(submitted)
    assert all(tasks[t].billing == states.BILLING_REFUNDED for t in failed)
    assert money.audit_user(suno_world.user.user_id).ok
