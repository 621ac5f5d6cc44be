"""Refunds that went missing, the ledger audit, the timeout sweep and the retry worker, against moto."""

from __future__ import annotations

from dataclasses import replace

import pytest
from taskcenter import clock, queues, settings
from taskcenter.domain import states
from taskcenter.observability import metrics
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import submission
from taskcenter.services.core.auth import authenticate_relay
from taskcenter.services.jobs import refunds, sweeper
from taskcenter.services.jobs import retry_worker as retries
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry, Task, User

from tests.engine_support import (
    SCHEDULE_EVENT,
    FakeUpstream,
    drain,
    install_fake_upstream,
    new_charged_task,
    run_queue,
    sqs_event,
    transient,
)


@pytest.fixture
def engine_world(world, frozen_clock, monkeypatch):
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")
    monkeypatch.setenv("FIRST_POLL_SECONDS", "0")
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    world.channels["suno"] = admin.create_channel("suno", "https://suno.example.com", name="suno-a",
                                                  priority=10)["id"]
    world.channels["suno-b"] = admin.create_channel("suno", "https://suno-b.example.com", name="suno-b",
                                                    priority=5)["id"]
    world.extra["upstream"] = upstream
    metrics.clear_metrics()
    return world


def jobs():
    from functions import jobs as module

    return module


def refunds_of(account):
    return [e for e in LedgerEntry.query(account.user_id, consistent_read=True) if e.kind == "refund"]


def test_crash_between_transition_and_enqueue_is_refunded_by_the_reconciler(engine_world, monkeypatch):
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    task = new_charged_task(user, ch, status=states.IN_PROGRESS)
    up.set(task.upstream_id, states.FAILURE, fail_reason="boom")
    real_send = queues.send

    def lost_refunds(queue, body, **kwargs):
        if queue == "refund":
            raise ConnectionError("SQS unreachable")  # the process "crashes" after the transition
        return real_send(queue, body, **kwargs)

    monkeypatch.setattr(queues, "send", lost_refunds)
    jobs().poll_worker(sqs_event([{"channel_id": ch, "task_ids": [task.task_id]}]), None)
    monkeypatch.setattr(queues, "send", real_send)
    assert task_store.get(task.task_id).billing == states.BILLING_REFUND_PENDING
    assert drain("refund") == []

    # within the grace period the reconciler leaves it (the message may still be on its way)
    assert jobs().reconciler(SCHEDULE_EVENT, None)["refunds_requeued"] == []
    clock.advance(settings.get().refund_grace_seconds + 1)
    # reconciler runs before the refund worker: one message per grace period, not per run; one refund
    assert jobs().reconciler(SCHEDULE_EVENT, None)["refunds_requeued"] == [task.task_id]
    assert jobs().reconciler(SCHEDULE_EVENT, None)["refunds_requeued"] == []  # its message is on its way
    clock.advance(settings.get().refund_grace_seconds + 1)
    assert jobs().reconciler(SCHEDULE_EVENT, None)["refunds_requeued"] == [task.task_id]  # still owed: again
    assert run_queue("refund", jobs().refund_worker) == 2
    assert [e.task_id for e in refunds_of(user)] == [task.task_id]
    stored = task_store.get(task.task_id)
    assert stored.billing == states.BILLING_REFUNDED and stored.refund_due_ms is None
    assert jobs().reconciler(SCHEDULE_EVENT, None)["refunds_requeued"] == []  # left the refund lane of the due index
    assert money.audit_user(user.user_id).ok


def test_reconciler_audit_reports_a_balance_that_does_not_add_up(engine_world, caplog):
    user, other = engine_world.user, engine_world.other
    task = new_charged_task(user, engine_world.channels["suno"])  # ledger activity today for `user`
    assert task.quota > 0
    report = refunds.reconcile()
    assert report.mismatched_users == [] and report.users_audited >= 1
    User(id=other.user_id).update(actions=[User.quota.add(7)])  # money out of nowhere
    new_charged_task(other, engine_world.channels["suno"])
    metrics.clear_metrics()
    report = refunds.reconcile()
    assert report.mismatched_users == [other.user_id]
    assert metrics.metric_set["LedgerAuditFailures"]["Value"] == [1.0]
    assert any(r.levelname == "ERROR" and "ledger audit failed" in r.getMessage() for r in caplog.records)
    metrics.clear_metrics()


def test_timeouts_fail_settle_and_refund_every_platform_alike(engine_world, monkeypatch):
    """Tasks in flight are timed out by the poll dispatcher (their deadline on the item, in no index lane); a
    task that waits for a scheduled start has its limit from that start."""
    monkeypatch.setenv("TASK_TIMEOUT_SECONDS", str(24 * 3600))
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    now = clock.now_ms()
    stuck = new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=now,
                             data={"status": "IN_PROGRESS", "progress": "40%",
                                   "clips": [{"id": "c1", "status": "streaming"}, {"id": "c2", "status": "complete"}]})
    mj_like = new_charged_task(user, ch, status=states.SUBMITTED, next_poll_at=now)
    finished = new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=now)
    up.set(finished.upstream_id, states.SUCCESS)
    jobs().poll_worker(sqs_event([{"channel_id": ch, "task_ids": [finished.task_id]}]), None)
    later = now + 48 * 3600 * 1000
    scheduled = new_charged_task(user, 0, status=states.NOT_START, upstream_id="", scheduled_ms=later,
                                 next_poll_at=later)
    assert {t.due_lane for t in (stuck, mj_like, scheduled)} == {None}  # no lane: 2 index write units less
    assert int(scheduled.due_at) == later + 24 * 3600 * 1000

    clock.advance(24 * 3600 - 1)
    assert jobs().poll_dispatcher(SCHEDULE_EVENT, None)["timed_out"] == 0
    clock.advance(2)
    report = jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    assert (report["timed_out"], report["polled"]) == (2, 0)
    assert jobs().timeout_sweeper(SCHEDULE_EVENT, None) == {"timed_out": [], "deferred": []}
    stored = task_store.get(stuck.task_id)
    assert stored.status == states.FAILURE and stored.fail_reason == "timeout: the task did not finish within 24 h"
    assert (stored.progress, stored.finish_ms) == ("100%", clock.now_ms())
    assert stored.data["status"] == states.FAILURE and stored.data["progress"] == "100%"
    assert [c["status"] for c in stored.data["clips"]] == ["error", "complete"]
    assert stored.data["fail_reason"] == stored.fail_reason
    assert task_store.get(mj_like.task_id).data["status"] == states.FAILURE
    assert task_store.get(finished.task_id).status == states.SUCCESS
    assert task_store.get(scheduled.task_id).status == states.NOT_START
    assert run_queue("refund", jobs().refund_worker) == 2
    assert sorted(e.task_id for e in refunds_of(user)) == sorted([stuck.task_id, mj_like.task_id])
    assert jobs().poll_dispatcher(SCHEDULE_EVENT, None)["timed_out"] == 0  # they left the poll index
    clock.set_now(later + 24 * 3600 * 1000)  # never started (no device slot): a limit after its start
    assert jobs().poll_dispatcher(SCHEDULE_EVENT, None)["timed_out"] == 1
    assert task_store.get(scheduled.task_id).status == states.FAILURE
    assert money.audit_user(user.user_id).ok


def test_settle_data_leaves_nothing_in_progress():
    assert sweeper.settle_data(None, "r") == {"status": "FAILURE", "fail_reason": "r", "progress": "100%"}
    assert sweeper.settle_data([{"state": "running", "progress": "3%"}], "r") == [{"state": "error",
                                                                                    "progress": "100%"}]
    assert sweeper.settle_data({"task": {"status": "QUEUED"}}, "r")["task"]["status"] == "FAILURE"


def _principal(account):
    return authenticate_relay(f"Bearer {account.api_key}")


def _spec():
    return submission.TaskSpec(platform="suno", kind="task", action="MUSIC", model_name="suno_music",
                               payload={"prompt": "a song"})


def test_retry_worker_fails_over_backs_off_ignores_stale_messages_and_never_submits_twice(engine_world,
                                                                                          monkeypatch):
    up, user = engine_world.extra["upstream"], engine_world.user
    sent: list[tuple[str, dict, int]] = []
    real_send = queues.send

    def spy(queue, body, *, delay_seconds=0):
        sent.append((queue, body, delay_seconds))
        return real_send(queue, body, delay_seconds=delay_seconds)

    monkeypatch.setattr(queues, "send", spy)
    ch_a, ch_b = engine_world.channels["suno"], engine_world.channels["suno-b"]
    # due now (as a v1 task whose start has come; a relay task is due only SUBMIT_RESCUE_SECONDS later)
    task = submission.create_tasks(_principal(user), [replace(_spec(), start_at_ms=clock.now_ms())])[0]
    retry = {"task_id": task.task_id, "attempt": 1, "reason": "start"}

    # every channel fails transiently: the task stays NOT_START, backs off, and the retry comes back delayed
    up.submit_errors = [transient(), transient()]
    assert retries.retry_from_message(retry) == retries.DISPATCHED
    stored = task_store.get(task.task_id)
    assert (stored.status, stored.submit_attempts) == (states.NOT_START, 1)
    wait_ms = int(stored.next_poll_at) - clock.now_ms()
    assert 5_000 <= wait_ms <= 10_000  # 10 s base, jitter in [base/2, base]
    assert sent == [("retry", retry, -(-wait_ms // 1000))]  # SQS delay = the backoff, rounded up

    # stale messages: another attempt, a task not due yet
    assert retries.retry_from_message({**retry, "attempt": 2}) == retries.IGNORED
    assert retries.retry_from_message(retry) == retries.IGNORED  # backing off: not due for wait_ms
    clock.advance(wait_ms / 1000)

    # two deliveries of the same message: one claims and submits, the other does nothing
    first = task_store.get(task.task_id)
    second = task_store.get(task.task_id)
    assert retries.claim(first) and not retries.claim(second)

    # on the second try the first channel still fails: failover to the other channel
    clock.advance(settings.get().retry_claim_seconds)  # the claim expired (a crashed worker): due again
    up.submit_errors = [transient()]
    jobs().retry_worker(sqs_event([retry, retry], "retry", ids=["r1", "r2"]), None)
    stored = task_store.get(task.task_id)
    assert stored.status == states.SUBMITTED and stored.upstream_id == f"up-{task.task_id}"
    assert stored.channel_id in (ch_a, ch_b) and up.submits == [task.task_id]  # submitted exactly once
    assert retries.retry_from_message(retry) == retries.IGNORED  # past NOT_START

    # past the maximum, a background retry fails and refunds the task
    doomed = submission.create_tasks(_principal(user), [replace(_spec(), start_at_ms=clock.now_ms())])[0]
    Task(task_id=doomed.task_id).update(actions=[Task.submit_attempts.set(settings.get().submit_max_retries)])
    up.submit_errors = [transient(), transient()]
    retries.retry_from_message({"task_id": doomed.task_id, "attempt": 1, "reason": "start"})
    assert task_store.get(doomed.task_id).status == states.FAILURE
    run_queue("refund", jobs().refund_worker)
    assert [e.task_id for e in refunds_of(user)] == [doomed.task_id]
    assert money.audit_user(user.user_id).ok
