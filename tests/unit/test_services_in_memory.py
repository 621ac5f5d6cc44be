"""Submission, failing, refunding and retry rules of the services, on the in-memory repositories: no moto,
no network (tests/unit/memory_world.py refuses every connection; test_unit_isolation.py proves moto is never
imported). The same rules on moto are covered by tests/integration (test_submission, test_engine_*)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.domain.errors import InsufficientQuota, NoChannel, UpstreamRejected, UpstreamUnavailable
from taskcenter.providers.base import PermanentUpstreamError, TransientUpstreamError
from taskcenter.services.core import lifecycle, submission
from taskcenter.services.jobs import refunds
from taskcenter.services.jobs import retry_worker as retries
from taskcenter.store.models import User

from tests.unit.memory_world import FUNDS, NOW, World, spec


def price() -> int:
    return submission.price_of(spec(), "default")


# ---------------------------------------------------------------- submission
def test_submit_now_charges_once_and_hands_the_task_to_the_upstream(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.upstream_id, int(stored.channel_id)) == \
        (states.SUBMITTED, f"up-{task.task_id}", 1)
    assert stored.billing == states.BILLING_CHARGED and int(stored.quota) == price() > 0
    assert mem.balance() == (FUNDS - price(), price())
    assert int(mem.repos.credentials.by_hash(mem.principal.token_hash).remaining_quota) == FUNDS - price()
    assert mem.messages("poll") == [{"channel_id": 1, "task_ids": [task.task_id], "chain": 0}]


def test_a_submission_that_cannot_be_paid_writes_nothing_and_calls_no_upstream(mem: World) -> None:
    mem.add_channel(1)
    mem.store.put_user(User(id=8, username="erin"))  # no quota
    with pytest.raises(InsufficientQuota):
        submission.submit_now(replace(mem.principal, user_id=8, token_hash=""), spec())
    assert mem.store.tasks == {} and not mem.upstream.submits and not mem.sent
    assert mem.repos.ledger.audit(8).charges == 0


def test_no_enabled_channel_is_refused_before_anything_is_charged(mem: World) -> None:
    mem.add_channel(1, status=2)  # disabled
    with pytest.raises(NoChannel):
        submission.submit_now(mem.principal, spec())
    assert mem.store.tasks == {} and mem.balance() == (FUNDS, 0) and not mem.upstream.submits


def test_a_transient_failure_fails_over_to_the_next_channel(mem: World) -> None:
    mem.add_channel(1, priority=10)
    mem.add_channel(2, priority=5)
    mem.upstream.errors = [TransientUpstreamError("503 from upstream", status=503)]
    task = submission.submit_now(mem.principal, spec())
    assert (task.status, int(task.channel_id)) == (states.SUBMITTED, 2)
    assert mem.upstream.submits == [(2, task.task_id)]
    assert mem.balance() == (FUNDS - price(), price())


def charge_entries(mem: World) -> list[str]:
    return [entry for (_, entry) in mem.store.ledger if not entry.startswith("credit#")]


def test_a_refusal_while_the_client_waits_withdraws_the_task_and_charges_nothing(mem: World) -> None:
    mem.add_channel(1)
    mem.add_channel(2)
    mem.upstream.errors = [PermanentUpstreamError("400 bad prompt", status=400, public="bad prompt")]
    with pytest.raises(UpstreamRejected) as refused:
        submission.submit_now(mem.principal, spec())
    assert not hasattr(refused.value, "task_id") and mem.store.tasks == {}  # withdrawn: nothing left to name
    assert not mem.upstream.submits  # a 4xx refusal is never tried on another channel
    assert charge_entries(mem) == [] and mem.balance() == (FUNDS, 0) and not mem.messages("refund")
    assert int(mem.repos.credentials.by_hash(mem.principal.token_hash).remaining_quota) == FUNDS


def test_every_channel_down_while_the_client_waits_withdraws_the_task(mem: World) -> None:
    mem.add_channel(1)
    mem.upstream.errors = [TransientUpstreamError("timeout")] * 3
    with pytest.raises(UpstreamUnavailable):
        submission.submit_now(mem.principal, spec())
    assert mem.store.tasks == {} and charge_entries(mem) == [] and mem.balance() == (FUNDS, 0)


def test_a_background_dispatch_backs_off_then_fails_and_queues_the_refund(mem: World,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBMIT_MAX_RETRIES", "1")
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    mem.upstream.errors = [TransientUpstreamError("503")] * 2
    submission.dispatch_to_upstream(task, client_waiting=False)
    assert (task.status, int(task.submit_attempts)) == (states.NOT_START, 1)
    assert int(task.next_poll_at) > mem.repos.tasks.get(task.task_id).submit_ms  # backing off
    submission.dispatch_to_upstream(task, client_waiting=False)
    assert (task.status, task.billing) == (states.FAILURE, states.BILLING_REFUND_PENDING)
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]
    assert mem.balance() == (FUNDS - price(), price())  # owed, not yet paid: the refund worker pays it


# ---------------------------------------------------------------- failing and refunding
def test_failing_a_task_has_one_winner_and_one_refund(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    mine, theirs = mem.repos.tasks.get(task.task_id), mem.repos.tasks.get(task.task_id)
    assert lifecycle.fail_task(mine, "stopped")
    assert not lifecycle.fail_task(theirs, "timed out")  # read the same version: loses the conditional write
    assert not lifecycle.fail_task(mine, "again")  # terminal already
    assert mem.repos.tasks.get(task.task_id).fail_reason == "stopped"
    assert mem.messages("refund") == [{"task_id": task.task_id, "attempt": 1}]


def test_the_refund_worker_pays_an_attempt_once_whatever_the_deliveries(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    lifecycle.fail_task(task, "upstream failed")
    body = mem.messages("refund")[0]
    assert refunds.refund_from_message(body)
    assert not refunds.refund_from_message(body)  # a duplicate delivery
    assert not refunds.refund_from_message({"task_id": task.task_id, "attempt": 2})  # not this attempt
    assert mem.balance() == (FUNDS, 0)
    assert mem.repos.tasks.get(task.task_id).billing == states.BILLING_REFUNDED


def test_settling_now_refunds_in_the_request_and_refreshes_the_task(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert lifecycle.fail_task(task, "stopped", refund_now=True)
    assert task.billing == states.BILLING_REFUNDED and not mem.messages("refund")
    assert mem.balance() == (FUNDS, 0)


def test_the_reconciler_requeues_refunds_owed_past_the_grace_period_and_audits(mem: World) -> None:
    mem.add_channel(1)
    late, recent = (submission.submit_now(mem.principal, spec()) for _ in range(2))
    lifecycle.fail_task(late, "lost refund message")
    clock.set_now(NOW + settings.get().refund_grace_seconds * 1000 + 1000)
    lifecycle.fail_task(recent, "just failed")
    mem.sent.clear()
    report = refunds.reconcile()
    assert report.refunds_requeued == [late.task_id]  # the recent one is still within its grace period
    assert mem.messages("refund") == [{"task_id": late.task_id, "attempt": 1}]
    assert (report.users_audited, report.mismatched_users) == (1, [])


# ---------------------------------------------------------------- the retry worker
def retry_body(task, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"task_id": task.task_id, "attempt": int(task.attempt), "reason": "start", **extra}


def test_the_retry_worker_submits_a_task_held_for_its_message(mem: World) -> None:
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    assert retries.retry_from_message(retry_body(task, hold_until=int(task.next_poll_at))) == retries.DISPATCHED
    stored = mem.repos.tasks.get(task.task_id)
    assert (stored.status, stored.upstream_id) == (states.SUBMITTED, f"up-{task.task_id}")
    assert mem.upstream.submits == [(1, task.task_id)]


def test_the_retry_worker_ignores_stale_early_and_held_messages(mem: World) -> None:
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    assert retries.retry_from_message(retry_body(task, attempt=2)) == retries.IGNORED  # another attempt
    assert retries.retry_from_message(retry_body(task)) == retries.IGNORED  # not due: its rescue time is ahead
    assert mem.repos.tasks.update(task, {"create_hold": "create-1", "next_poll_at": 0})
    assert retries.retry_from_message(retry_body(task)) == retries.IGNORED  # its create is still being written
    assert not mem.upstream.submits


def test_of_two_workers_one_claims_the_task(mem: World) -> None:
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    mine, theirs = mem.repos.tasks.get(task.task_id), mem.repos.tasks.get(task.task_id)
    assert retries.claim(mine)
    assert not retries.claim(theirs)
    assert int(mine.next_poll_at) == mem.repos.tasks.get(task.task_id).next_poll_at


def test_a_retry_that_backs_off_sends_its_next_message_with_the_delay(mem: World) -> None:
    mem.add_channel(1)
    task = submission.create_tasks(mem.principal, [spec()])[0]
    mem.upstream.errors = [TransientUpstreamError("503")]
    assert retries.retry_from_message(retry_body(task, hold_until=int(task.next_poll_at))) == retries.DISPATCHED
    [(queue, body, delay)] = [m for m in mem.sent if m[0] == "retry"]
    assert body == {"task_id": task.task_id, "attempt": 1, "reason": "start"} and 5 <= delay <= 10
    assert int(mem.repos.tasks.get(task.task_id).submit_attempts) == 1
