"""Submission service: charge + create in one transaction, failover, refusal, background backoff."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.domain.errors import InsufficientQuota, NoChannel, UpstreamRejected, UpstreamUnavailable
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
)
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels, submission
from taskcenter.services.core.auth import authenticate_relay
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry, Task, User

from tests.support import use_provider

# channel base URL -> what its submit does: "ok", "transient" or "refuse"
BEHAVIOUR: dict[str, str] = {}
CALLS: list[tuple[int, str]] = []


class ScriptedProvider:
    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel

    def submit(self, request: SubmitRequest) -> SubmitResult:
        CALLS.append((self.channel.id, request.task_id))
        mode = BEHAVIOUR.get(self.channel.base_url, "ok")
        if mode == "transient":
            raise TransientUpstreamError("HTTP 503", status=503)
        if mode == "refuse":
            raise PermanentUpstreamError("prompt rejected", status=400)
        return SubmitResult(upstream_id=f"up-{request.task_id}", status=states.SUBMITTED)

    def fetch(self, upstream_ids: list[str]) -> dict[str, Any]:
        return {}

    def cancel(self, upstream_id: str) -> bool:
        return False


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, world: Any) -> Any:
    use_provider(monkeypatch, "suno", ScriptedProvider)
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "")
    BEHAVIOUR.clear()
    CALLS.clear()
    channels.clear_cache()
    yield world
    channels.clear_cache()


def _spec(**overrides: Any) -> submission.TaskSpec:
    fields: dict[str, Any] = {"platform": "suno", "kind": "task", "action": "MUSIC", "model_name": "suno_music",
                              "payload": {"prompt": "a song"}, "properties": {"prompt": "a song"}}
    fields.update(overrides)
    return submission.TaskSpec(**fields)


def _channel(url: str, priority: int = 0) -> int:
    return int(admin.create_channel("suno", url, priority=priority)["id"])


def _ledger_kinds(user_id: int) -> list[str]:
    return sorted(e.kind for e in LedgerEntry.query(user_id) if e.kind != "credit")


def test_submit_charges_once_and_fails_over_past_transient_channels(scripted: Any) -> None:
    first = _channel("https://down.example.com", priority=10)
    second = _channel("https://up.example.com", priority=5)
    BEHAVIOUR["https://down.example.com"] = "transient"
    principal = authenticate_relay(f"Bearer {scripted.user.api_key}")
    before = int(User.get(principal.user_id).quota)

    task = submission.submit_now(principal, _spec())

    assert [c for c, _ in CALLS] == [first, second]
    assert task.status == states.SUBMITTED and int(task.channel_id) == second
    assert task.upstream_id == f"up-{task.task_id}" and task.next_poll_at is not None
    price = int(task.quota)
    assert price == 50_000  # 0.1 USD x 500,000
    assert int(User.get(principal.user_id).quota) == before - price
    assert _ledger_kinds(principal.user_id) == ["charge"]
    assert money.audit_user(principal.user_id).ok


def test_every_channel_failing_leaves_no_task_and_no_ledger_entry(scripted: Any) -> None:
    _channel("https://a.example.com")
    _channel("https://b.example.com")
    BEHAVIOUR.update({"https://a.example.com": "transient", "https://b.example.com": "transient"})
    principal = authenticate_relay(f"Bearer {scripted.user.api_key}")
    before = int(User.get(principal.user_id).quota)

    with pytest.raises(UpstreamUnavailable) as caught:
        submission.submit_now(principal, _spec())

    assert "every channel failed" in caught.value.message and not hasattr(caught.value, "task_id")
    assert list(Task.scan()) == []  # withdrawn with its charge (issue 14)
    assert int(User.get(principal.user_id).quota) == before
    assert _ledger_kinds(principal.user_id) == []

    # A 4xx refusal is not failed over: one call, nothing charged.
    BEHAVIOUR.update({"https://a.example.com": "refuse", "https://b.example.com": "refuse"})
    CALLS.clear()
    with pytest.raises(UpstreamRejected):
        submission.submit_now(principal, _spec())
    assert len(CALLS) == 1
    assert int(User.get(principal.user_id).quota) == before
    assert money.audit_user(principal.user_id).ok


def test_nothing_is_written_without_a_channel_or_without_quota(scripted: Any) -> None:
    from tests.support import snapshot_tables

    principal = authenticate_relay(f"Bearer {scripted.user.api_key}")
    before = snapshot_tables()
    with pytest.raises(NoChannel):
        submission.submit_now(principal, _spec())
    assert snapshot_tables() == before

    _channel("https://up.example.com")
    poor = admin.create_user("poor", quota=10)
    key = admin.issue_credential(poor["id"], "key")
    poor_principal = authenticate_relay(f"Bearer {key['token']}")
    with pytest.raises(InsufficientQuota):
        submission.submit_now(poor_principal, _spec())
    assert list(Task.user_time.query(f"u#{poor['id']}#task")) == []  # type: ignore[attr-defined]
    assert _ledger_kinds(poor["id"]) == []


def test_background_dispatch_backs_off_rotates_channels_then_fails_and_owes_a_refund(
        scripted: Any, monkeypatch: pytest.MonkeyPatch, frozen_clock: Any) -> None:
    monkeypatch.setenv("SUBMIT_MAX_RETRIES", "2")
    monkeypatch.setenv("SUBMIT_CHANNEL_ATTEMPTS", "1")
    _channel("https://a.example.com")
    _channel("https://b.example.com")
    BEHAVIOUR.update({"https://a.example.com": "transient", "https://b.example.com": "transient"})
    principal = authenticate_relay(f"Bearer {scripted.user.api_key}")
    task = submission.create_tasks(principal, [_spec(start_at_ms=frozen_clock.now_ms())])[0]
    assert task.status == states.NOT_START and task.next_poll_at == frozen_clock.now_ms()

    submission.dispatch_to_upstream(task, client_waiting=False)
    assert task.status == states.NOT_START and int(task.submit_attempts) == 1
    first_wait = int(task.next_poll_at) - frozen_clock.now_ms()
    assert 5_000 <= first_wait <= 10_000
    submission.dispatch_to_upstream(task, client_waiting=False)
    assert int(task.submit_attempts) == 2
    assert CALLS[0][0] != CALLS[1][0]  # the retry went to the other channel
    submission.dispatch_to_upstream(task, client_waiting=False)
    assert task.status == states.FAILURE and task.billing == states.BILLING_REFUND_PENDING
    # A duplicate retry message after the fact changes nothing.
    calls = len(CALLS)
    submission.dispatch_to_upstream(task, client_waiting=False)
    assert len(CALLS) == calls


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(7)
    waits = [submission.backoff_ms(n, rng=rng) for n in range(1, 12)]
    assert 5_000 <= waits[0] <= 10_000 and 10_000 <= waits[1] <= 20_000
    assert all(w <= 600_000 for w in waits) and waits[-1] >= 300_000


def test_a_charged_task_whose_request_died_before_the_upstream_call_is_submitted_by_the_engine(
        scripted: Any, monkeypatch: pytest.MonkeyPatch, frozen_clock: Any) -> None:
    from taskcenter import queues
    from taskcenter.services.jobs import polling as engine
    from taskcenter.services.jobs import retry_worker as retries

    _channel("https://up.example.com")
    principal = authenticate_relay(f"Bearer {scripted.user.api_key}")
    # The request charged and wrote the task, then died before dispatch_to_upstream.
    task = submission.create_tasks(principal, [_spec()])[0]
    assert task.status == states.NOT_START and int(task.next_poll_at) == frozen_clock.now_ms() + 120_000

    sent: list[tuple[str, list[dict[str, Any]]]] = []
    monkeypatch.setattr(queues, "send_many", lambda queue, bodies, **kw: sent.append((queue, bodies)) or len(bodies))
    engine.dispatch_due_polls()
    assert sent == []  # not due yet: a live request is still submitting it
    frozen_clock.advance(121)  # seconds (it read 121_000 until the dispatcher checked deadlines: 33 h, overdue)
    engine.dispatch_due_polls()
    assert [(q, [b["task_id"] for b in bodies]) for q, bodies in sent] == [("retry", [task.task_id])]

    assert retries.retry_from_message(sent[0][1][0]) == retries.DISPATCHED
    stored = Task.get(task.task_id)
    assert stored.status == states.SUBMITTED and stored.upstream_id == f"up-{task.task_id}"
    assert [(int(stored.channel_id), task.task_id)] == CALLS
