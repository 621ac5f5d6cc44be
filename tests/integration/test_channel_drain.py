"""Disabling a channel drains it; deleting it fails its tasks (docs/admin.md: disable_channel, delete_channel).

Disabled (status 2): no new task is routed to it, and the tasks it already holds are followed to the end
(polled to SUCCESS, never refunded). Deleted (status 3): its in-flight tasks fail and are refunded once.
Against moto, through the job handlers, with a scripted fake upstream (tests/engine_support.py).
"""

from __future__ import annotations

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import channels, submission
from taskcenter.services.core.auth import Principal
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry

from tests.engine_support import FakeUpstream, drain, install_fake_upstream, new_charged_task, run_queue, sqs_event


@pytest.fixture
def drain_world(world, frozen_clock, monkeypatch):
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")
    monkeypatch.setenv("FIRST_POLL_SECONDS", "0")
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    world.channels["a"] = admin.create_channel("suno", "https://suno-a.example.com", name="a", priority=10)["id"]
    world.channels["b"] = admin.create_channel("suno", "https://suno-b.example.com", name="b", priority=0)["id"]
    world.extra["upstream"] = upstream
    return world


def _jobs():
    from functions import jobs

    return jobs


def _poll(task_id: str, channel_id: int) -> None:
    _jobs().poll_worker(sqs_event([{"channel_id": channel_id, "task_ids": [task_id], "chain": 0}]), None)


def _refunds(user_id: int) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.query(user_id, consistent_read=True) if e.kind == "refund"]


def _principal(account) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(user_id=account.user_id, username=account.username, role=1, group="default", plan="Pro",
                     timezone="UTC", token_hash=account.key_hash, kind="key", unlimited=True, remaining_quota=0)


def test_a_task_in_flight_on_a_disabled_channel_is_polled_to_success_and_not_refunded(drain_world):
    up, ch, user = drain_world.extra["upstream"], drain_world.channels["a"], drain_world.user
    task = new_charged_task(user, ch)
    up.set(task.upstream_id, states.IN_PROGRESS, progress="40%")
    assert admin.disable_channel(ch)["status"] == 2
    channels.clear_cache()

    _poll(task.task_id, ch)
    stored = task_store.get(task.task_id)
    assert stored.status == states.IN_PROGRESS and stored.fail_reason == ""
    assert up.fetch_calls == [[task.upstream_id]]  # the disabled channel's upstream was asked

    up.set(task.upstream_id, states.SUCCESS, data={"clips": ["x"]})
    clock.set_now(clock.now_ms() + 60_000)
    _poll(task.task_id, ch)
    stored = task_store.get(task.task_id)
    assert stored.status == states.SUCCESS and stored.billing == states.BILLING_CHARGED
    assert drain("refund") == [] and _refunds(user.user_id) == []
    assert money.audit_user(user.user_id).ok


def test_a_task_in_flight_on_a_deleted_channel_fails_and_is_refunded_once(drain_world):
    up, ch, user = drain_world.extra["upstream"], drain_world.channels["a"], drain_world.user
    task = new_charged_task(user, ch)
    up.set(task.upstream_id, states.IN_PROGRESS)
    admin.delete_channel(ch)
    channels.clear_cache()

    _poll(task.task_id, ch)
    _poll(task.task_id, ch)  # a duplicate delivery changes nothing
    stored = task_store.get(task.task_id)
    assert stored.status == states.FAILURE and stored.fail_reason == "the channel of this task was deleted"
    assert up.fetch_calls == []
    assert run_queue("refund", _jobs().refund_worker) >= 1
    refunds = _refunds(user.user_id)
    assert len(refunds) == 1 and refunds[0].task_id == task.task_id and refunds[0].amount == int(task.quota)
    assert task_store.get(task.task_id).billing == states.BILLING_REFUNDED
    assert money.audit_user(user.user_id).ok


def test_a_new_submission_skips_the_disabled_channel(drain_world):
    up, first, second = drain_world.extra["upstream"], drain_world.channels["a"], drain_world.channels["b"]
    admin.disable_channel(first)  # the higher priority one
    channels.clear_cache()
    assert [c.id for c in channels.failover_order("suno")] == [second]
    spec = submission.TaskSpec(platform="suno", kind="task", action="MUSIC", model_name="suno_music",
                               payload={"prompt": "x"})
    task = submission.submit_now(_principal(drain_world.user), spec)
    assert task.status == states.SUBMITTED and int(task.channel_id) == second
    assert up.submits == [task.task_id]

    # A task pinned to the disabled channel (a device's host) is not sent to it: it waits, without using
    # up its submission retries, and goes out once the channel is enabled again.
    pinned = submission.create_tasks(_principal(drain_world.user), [submission.TaskSpec(
        platform="suno", kind="task", action="MUSIC", model_name="suno_music", payload={"prompt": "y"},
        channel_id=second)])[0]
    admin.disable_channel(second)
    channels.clear_cache()
    for _ in range(3):
        waited = submission.dispatch_to_upstream(task_store.get(pinned.task_id), client_waiting=False)
        assert waited.status == states.NOT_START and int(waited.submit_attempts or 0) == 0
    assert up.submits == [task.task_id]
    admin.update_channel(second, status=1)
    channels.clear_cache()
    sent = submission.dispatch_to_upstream(task_store.get(pinned.task_id), client_waiting=False)
    assert sent.status == states.SUBMITTED and int(sent.channel_id) == second
    assert _refunds(drain_world.user.user_id) == []


def test_a_disabled_host_still_stops_its_running_task_and_takes_no_new_one(v1):
    from tests.integration.v1_support import run_retry_worker

    admin.update_channel(v1.channel_id, secret="host-key")  # the host's key, read from Secrets Manager
    v1.sim.config.secret = "host-key"
    held = v1.create({"serials": ["dev2"], "script_name": "post",
                      "script_config": {"material_list": ["C:/v.mp4"], "captions": "sim:hold"}})[0]
    run_retry_worker()
    running = task_store.get(f"v1_{held}")
    assert running.status == states.IN_PROGRESS
    admin.disable_channel(v1.channel_id)
    channels.clear_cache()

    status, reply = v1.call("POST", "/api/v1/task", {"serials": ["dev1"], "script_name": "post",
                                                     "script_config": {"material_list": ["C:/v.mp4"]}})
    assert status == 400 and "not connected" in reply["message"]  # no new task for a disabled host
    status, reply = v1.call("POST", f"/api/v1/task/{held}/stop")
    assert (status, reply["code"], reply["data"]["error"]) == (200, 0, "stopped")
    assert v1.sim.stops == [int(running.upstream_id)]  # the stop reached the disabled host, with its key
    assert task_store.get(f"v1_{held}").billing == states.BILLING_REFUNDED
