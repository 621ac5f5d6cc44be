"""What a relay reply says was refused is never charged (issue 14; docs/decisions.md, "Money"): a refused MJ or
Suno submit leaves no ledger entry and no task, every balance as it was; a request that dies after its held
charge is failed and refunded by the poll dispatcher at the hold's expiry, once; a withdrawal racing it refunds once.

Each test fails on 9fc717d, where a refusal was a charge and a refund in the same request and a crashed
request's task was resubmitted by the retry worker (or, with no channel answering, charged and refunded).
"""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.providers.base import PermanentUpstreamError
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels, platform_registry, submission
from taskcenter.services.jobs import polling, refunds, sweeper
from taskcenter.services.jobs import retry_worker as retries
from taskcenter.store import held_create, money
from taskcenter.store.models import Credential, LedgerEntry, Task, User

from tests.chaos.checks import counter_checks
from tests.integration import suno_support
from tests.integration.suno_support import submit as suno_submit
from tests.integration.test_mj_relay import mj, post

__all__ = ["mj", "suno_sim", "suno_world"]  # fixtures
suno_sim = suno_support.suno_sim
suno_world = suno_support.suno_world


def balances(account: Any) -> tuple[int, int, int, int, int]:
    user = User.get(account.user_id, consistent_read=True)
    key = Credential.get(account.key_hash, consistent_read=True)
    return (int(user.quota), int(user.used_quota), int(user.request_count), int(key.remaining_quota),
            int(key.used_quota))


def entries(account: Any) -> list[str]:
    """The user's ledger, top-ups left out."""
    return [e.entry for e in LedgerEntry.query(account.user_id, consistent_read=True) if e.kind != "credit"]


def logged_charges(account: Any) -> int:
    """Charges the usage log's hour buckets count for the user today (store/usage_log_counts.py)."""
    from taskcenter.store import usage_log_counts as counts

    try:
        item = counts.LogDayCounts.get(counts.user_item(account.user_id, clock.now_ms() // counts.DAY_MS))
    except counts.LogDayCounts.DoesNotExist:
        return 0
    return sum(int(getattr(item, f"c{hour:02d}") or 0) for hour in range(counts.HOURS_PER_DAY))


def tasks_of(account: Any) -> list[Task]:
    return [t for t in Task.scan(consistent_read=True) if int(t.user_id) == account.user_id]


# ---------------------------------------------------------------- refusals leave nothing
def test_refused_mj_submits_leave_no_ledger_entry_no_task_and_every_balance_unchanged(
        client: Any, mj: Any) -> None:
    h, sim = mj.user.relay_headers(), mj.extra["sim"]
    second = admin.create_channel("midjourney", sim.url, name="mj-sim-2", secret="sim-secret")["id"]
    channels.clear_cache()
    before = balances(mj.user)

    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:banned"}, h)
    assert (status, reply["code"]) == (200, 24), reply  # as today on the wire: HTTP 200, the upstream's body
    sim.config.queue_full_rate = 1.0  # 23 on both channels (23 is failed over)
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, h)
    sim.config.queue_full_rate = 0.0
    assert (status, reply["code"], reply["result"]) == (200, 23, None), reply
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:busy"}, h)  # HTTP 503 on every channel
    assert status == 503, reply
    assert second and [b["prompt"] for _, b in sim.submitted if "busy" in b["prompt"]] == ["sim:busy"] * 2

    assert entries(mj.user) == []  # no charge#, no refund#: not a charge/refund pair
    assert logged_charges(mj.user) == 0  # the usage log's buckets count no charge either (its exact total)
    assert balances(mj.user) == before  # quota, used_quota, request_count, key remaining and used
    assert tasks_of(mj.user) == []
    assert money.audit_user(mj.user.user_id).ok


def test_a_refused_suno_submit_leaves_no_ledger_entry_and_every_balance_unchanged(
        client: Any, suno_world: Any, suno_sim: Any) -> None:
    user = suno_world.user
    before = balances(user)
    for prompt, status in (("sim:refuse this", 500), ("sim:reject this", 400)):
        got, body, _ = suno_submit(client, user, body={"prompt": prompt})
        assert (got, body["data"]) == (status, None), body
    assert entries(user) == [] and balances(user) == before and tasks_of(user) == []


def test_an_accepted_submit_is_released_in_the_write_that_records_the_upstream_id(client: Any, mj: Any) -> None:
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, mj.user.relay_headers())
    assert (status, reply["code"]) == (200, 1), reply
    task = Task.get(reply["result"])
    # written (version 1) by the charge, then one write: upstream id, deadline and the hold taken off together
    assert (task.status, task.create_hold, task.version) == (states.SUBMITTED, None, 2)
    assert task.ls is not None and task.ls.startswith(states.SUBMITTED)  # added by that write (never re-keyed)
    assert int(task.due_at) == int(task.submit_ms) + settings.get().task_timeout_seconds * 1000
    assert task.due_lane is None  # no deadline lane: its poll index entry, written with the charge, kept as it was
    assert int(task.next_poll_at) == int(task.submit_ms) + settings.get().first_poll_seconds * 1000
    assert entries(mj.user) == [f"charge#{task.task_id}#1"]


# ---------------------------------------------------------------- a request that dies after the charge
def test_a_crash_between_the_held_charge_and_the_upstream_is_failed_and_refunded_once(
        client: Any, mj: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    before = balances(mj.user)

    def crash(task: Task, **_: Any) -> Task:
        raise RuntimeError("the Lambda died before calling the upstream")

    monkeypatch.setattr(submission, "dispatch_to_upstream", crash)
    status, _ = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, mj.user.relay_headers())
    monkeypatch.undo()
    assert status == 500
    (task,) = tasks_of(mj.user)
    rescue_at = int(task.submit_ms) + settings.get().submit_rescue_seconds * 1000
    assert (task.status, task.create_hold) == (states.NOT_START, held_create.SUBMIT_HOLD)
    assert (task.due_lane, int(task.due_at)) == (None, rescue_at)  # in the poll index, the hold's expiry its deadline
    # while held: in the time-sorted listings and the ALL counts, in no status index or status count
    assert task.ls is None and task.lt is not None
    assert counter_checks()[0][0].ok
    assert retries.retry_from_message({"task_id": task.task_id, "attempt": 1}) == retries.IGNORED  # held
    assert Task.get(task.task_id).status == states.NOT_START and not mj.extra["sim"].submitted

    clock.advance(settings.get().submit_rescue_seconds - 1)
    report = polling.dispatch_due_polls()  # read (due since its first poll time), left alone while held
    assert (report.due, report.timed_out, report.retries, report.polled) == (1, 0, 0, 0)
    assert Task.get(task.task_id).status == states.NOT_START
    clock.advance(1)
    report = polling.dispatch_due_polls()
    assert (report.timed_out, report.retries, report.polled) == (1, 0, 0)  # failed, never started
    assert polling.dispatch_due_polls().due == 0 and sweeper.sweep_timeouts().timed_out == []
    assert refunds.refund_from_message({"task_id": task.task_id, "attempt": 1})
    assert not refunds.refund_from_message({"task_id": task.task_id, "attempt": 1})  # duplicate message
    refunds.reconcile()
    failed = Task.get(task.task_id)
    assert (failed.status, failed.billing) == (states.FAILURE, states.BILLING_REFUNDED)
    assert failed.ls.startswith(states.FAILURE) and failed.lf is not None and counter_checks()[0][0].ok
    assert sorted(entries(mj.user)) == [f"charge#{task.task_id}#1", f"refund#{task.task_id}#1"]
    assert balances(mj.user)[:2] == before[:2] and money.audit_user(mj.user.user_id).ok


class _SweptThenRefused:
    """An upstream so slow that the hold expires and the dispatcher fails the task before it refuses."""

    def submit(self, request: Any) -> Any:
        clock.advance(settings.get().submit_rescue_seconds + 1)
        assert polling.dispatch_due_polls().timed_out == 1
        raise PermanentUpstreamError("[24] banned", status=200, public="[24] banned prompt",
                                     body={"code": 24, "description": "banned", "result": None, "properties": {}})


def test_a_withdrawal_that_loses_to_the_dispatchers_timeout_refunds_once(client: Any, mj: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    before = balances(mj.user)
    monkeypatch.setattr(platform_registry, "provider_for", lambda channel: _SweptThenRefused())
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, mj.user.relay_headers())
    monkeypatch.undo()
    assert (status, reply["code"]) == (200, 24), reply
    (task,) = tasks_of(mj.user)  # the withdrawal's condition failed: the task stays, failed, refunded now
    assert (task.status, task.billing) == (states.FAILURE, states.BILLING_REFUNDED)
    assert not refunds.refund_from_message({"task_id": task.task_id, "attempt": 1})  # the timeout's message
    assert sorted(entries(mj.user)) == [f"charge#{task.task_id}#1", f"refund#{task.task_id}#1"]
    assert balances(mj.user)[:2] == before[:2] and money.audit_user(mj.user.user_id).ok


def test_a_withdrawn_task_is_gone_before_the_timeouts_look(client: Any, mj: Any) -> None:
    post(client, "/mj/submit/imagine", {"prompt": "sim:banned"}, mj.user.relay_headers())
    clock.advance(settings.get().task_timeout_seconds + 1)
    assert sweeper.sweep_timeouts().timed_out == [] and refunds.reconcile() is not None
    assert polling.dispatch_due_polls().due == 0
    assert entries(mj.user) == [] and tasks_of(mj.user) == []


@pytest.mark.parametrize(("failure", "answer"), [("submit_error_rate", (503, None)), ("queue_full_rate", (200, 23))])
def test_a_refused_mj_submit_is_not_replayed_under_its_idempotency_key(client: Any, mj: Any, failure: str,
                                                                       answer: tuple[int, int | None]) -> None:
    """Found by hostile testing (4 Dec 2026): a relayed 503 or code 23 was kept as the key's answer and replayed
    for 24 h, so a client retrying with the same key after the upstream recovered never got its task."""
    import json

    sim = mj.extra["sim"]
    headers = {**mj.user.relay_headers(), "Idempotency-Key": f"retry-{failure}"}
    setattr(sim.config, failure, 1.0)  # every channel refuses
    refused_at = balances(mj.user)
    first = client.http.post("/mj/submit/imagine", headers=headers, body=json.dumps({"prompt": "a red fox"}))
    status, code = answer
    assert first.status_code == status and (code is None or json.loads(first.body)["code"] == code), first.body
    assert balances(mj.user) == refused_at  # nothing charged
    setattr(sim.config, failure, 0.0)  # the upstream is back: the same key makes the task now
    before = balances(mj.user)
    again = client.http.post("/mj/submit/imagine", headers=headers, body=json.dumps({"prompt": "a red fox"}))
    assert again.headers.get("Idempotent-Replayed") != "true" and json.loads(again.body)["code"] == 1, again.body
    assert balances(mj.user)[0] == before[0] - 50_000  # charged once, for the task it made
    replay = client.http.post("/mj/submit/imagine", headers=headers, body=json.dumps({"prompt": "a red fox"}))
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert json.loads(replay.body)["result"] == json.loads(again.body)["result"]  # the task the key made


def test_a_2xx_mj_refusal_is_relayed_without_where_the_channel_lives(client: Any, mj: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """midjourney-proxy refuses with HTTP 200 and a code (9 carries its exception's text). Found by hostile
    testing (4 Dec 2026): the text reached the client with only the channel's secret taken out."""
    sim = mj.extra["sim"]
    leak = f"submit failed: connect to {sim.url}/mj via proxy http://10.20.30.40:7890 refused, key sim-secret"
    monkeypatch.setattr(sim, "submit", lambda kind, body: (200, {"code": 9, "description": leak, "result": None,
                                                                  "properties": {"proxy": "10.20.30.40:7890"}}))
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, mj.user.relay_headers())
    assert (status, reply["code"]) == (200, 9), reply  # the upstream's answer, as new-api relays it
    assert reply["description"] == "submit failed: connect to [url] via proxy [url] refused, key [secret]"
    assert reply["properties"] == {"proxy": "[address]:7890"}
