"""Poll worker and dispatcher against moto with a scripted fake upstream (services/engine.py, functions/jobs.py).

Each test builds one world and checks a group of related rules: the state mapping and its writes,
racing pollers, forgotten tasks and missing ids, dead channels, chains, the dispatcher's grouping and
backoff, and the dead-letter path.
"""

from __future__ import annotations

import json
import threading

import pytest
from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.observability import metrics
from taskcenter.services.admin import operations as admin
from taskcenter.services.jobs import polling as engine
from taskcenter.services.jobs import retry_worker as retries
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry

from tests.engine_support import (
    SCHEDULE_EVENT,
    FakeUpstream,
    drain,
    install_fake_upstream,
    new_charged_task,
    receive,
    run_queue,
    sqs_event,
    transient,
)

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture
def engine_world(world, frozen_clock, monkeypatch):
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")  # moto honours SQS delays in real time
    monkeypatch.setenv("FIRST_POLL_SECONDS", "0")
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    world.channels["suno"] = admin.create_channel("suno", "https://suno.example.com", name="suno-a")["id"]
    world.channels["suno-b"] = admin.create_channel("suno", "https://suno-b.example.com", name="suno-b")["id"]
    world.extra["upstream"] = upstream
    return world


def jobs():
    from functions import jobs as module

    return module


def poll(task_ids, channel_id, chain=0):
    return jobs().poll_worker(sqs_event([{"channel_id": channel_id, "task_ids": task_ids, "chain": chain}]), None)


def writes(calls):
    return [c for c in calls if c[0] in WRITE_OPS]


def refunds_of(account):
    return [e for e in LedgerEntry.query(account.user_id, consistent_read=True) if e.kind == "refund"]


# ---------------------------------------------------------------- state mapping and writes
def test_state_mapping_writes_only_changes_and_ignores_stale_reports(engine_world, dynamodb_calls):
    up, ch = engine_world.extra["upstream"], engine_world.channels["suno"]
    task = new_charged_task(engine_world.user, ch, next_poll_at=clock.now_ms() + 5_000)  # as submission schedules
    up.set(task.upstream_id, states.SUBMITTED)

    dynamodb_calls.clear()
    assert poll([task.task_id], ch) == {"batchItemFailures": []}
    assert writes(dynamodb_calls) == []  # unchanged poll: reads only
    assert len(up.fetch_calls) == 1

    clock.advance(5)
    up.set(task.upstream_id, states.IN_PROGRESS, progress="30%")
    dynamodb_calls.clear()
    poll([task.task_id], ch)
    assert [op for op, _ in writes(dynamodb_calls)] == ["UpdateItem"]  # one transition: one conditional write
    stored = task_store.get(task.task_id)
    assert (stored.status, stored.progress, stored.version) == (states.IN_PROGRESS, "30%", 2)
    # the move keeps the task's poll_due entry as it was (no re-key: docs/engine.md, "Polling")
    assert stored.start_ms == clock.now_ms() and stored.next_poll_at == task.next_poll_at

    up.set(task.upstream_id, states.IN_PROGRESS, progress="60%", data={"clips": [{"status": "streaming"}]})
    dynamodb_calls.clear()
    poll([task.task_id], ch)
    assert writes(dynamodb_calls) == []  # progress moved, but the last write is under 10 s old: held back
    clock.advance(settings.get().poll_progress_min_interval_seconds)
    poll([task.task_id], ch)
    assert [op for op, _ in writes(dynamodb_calls)] == ["UpdateItem"]  # same status, new progress/data
    stored = task_store.get(task.task_id)
    assert (stored.progress, stored.data) == ("60%", {"clips": [{"status": "streaming"}]})

    up.set(task.upstream_id, states.QUEUED)  # an out-of-order older report: ignored entirely
    dynamodb_calls.clear()
    poll([task.task_id], ch)
    assert writes(dynamodb_calls) == [] and task_store.get(task.task_id).status == states.IN_PROGRESS

    up.set(task.upstream_id, states.SUCCESS, data={"clips": [{"status": "complete", "audio_url": "a.mp3"}]})
    poll([task.task_id], ch)
    stored = task_store.get(task.task_id)
    assert (stored.status, stored.progress, stored.finish_ms) == (states.SUCCESS, "100%", clock.now_ms())
    assert stored.data["clips"][0]["audio_url"] == "a.mp3" and stored.billing == states.BILLING_CHARGED
    assert stored.next_poll_at is None and stored.poll_shard is None and stored.due_at is None

    up.set(task.upstream_id, states.FAILURE)  # terminal is final
    dynamodb_calls.clear()
    poll([task.task_id], ch)
    assert writes(dynamodb_calls) == [] and task_store.get(task.task_id).status == states.SUCCESS
    assert drain("refund") == []

    # an unknown upstream word maps to UNKNOWN (beside IN_PROGRESS), and back
    other = new_charged_task(engine_world.user, ch, status=states.IN_PROGRESS)
    up.set(other.upstream_id, "weird-state")
    poll([other.task_id], ch)
    assert task_store.get(other.task_id).status == states.UNKNOWN
    up.set(other.upstream_id, states.IN_PROGRESS)
    poll([other.task_id], ch)
    assert task_store.get(other.task_id).status == states.IN_PROGRESS


def test_upstream_failure_refunds_once_however_often_the_message_comes(engine_world):
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    task = new_charged_task(engine_world.user, ch, status=states.IN_PROGRESS)
    up.set(task.upstream_id, states.FAILURE, fail_reason="content policy")
    poll([task.task_id], ch)
    stored = task_store.get(task.task_id)
    assert (stored.status, stored.fail_reason, stored.progress) == (states.FAILURE, "content policy", "100%")
    assert stored.billing == states.BILLING_REFUND_PENDING
    messages = drain("refund")
    assert messages == [{"task_id": task.task_id, "attempt": 1}]

    # the same refund delivered four times, in two batches: one refund
    reply = jobs().refund_worker(sqs_event(messages * 3, "refund"), None)
    assert reply == {"batchItemFailures": []}
    jobs().refund_worker(sqs_event(messages, "refund"), None)
    assert len(refunds_of(user)) == 1 and refunds_of(user)[0].amount == task.quota
    assert task_store.get(task.task_id).billing == states.BILLING_REFUNDED
    assert money.audit_user(user.user_id).ok

    # a report that arrives after FAILURE changes nothing and refunds nothing
    up.set(task.upstream_id, states.SUCCESS)
    poll([task.task_id], ch)
    assert task_store.get(task.task_id).status == states.FAILURE and drain("refund") == []


def emitted(capsys, name: str) -> float:
    """Sum of a metric in the EMF lines the handlers flushed to stdout."""
    total = 0.0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(name, 0)
            total += sum(value) if isinstance(value, list) else value
    return total


def test_racing_pollers_make_one_transition_and_one_refund(engine_world, dynamodb_calls, capsys):
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    batch = [new_charged_task(user, ch, status=states.IN_PROGRESS) for _ in range(3)]
    for t in batch:
        up.set(t.upstream_id, states.FAILURE, fail_reason="upstream error")
    barrier = threading.Barrier(2)
    up.before_reply = lambda: barrier.wait(timeout=10)  # both workers have read the tasks and the upstream
    ids = [t.task_id for t in batch]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            poll(ids, ch)
        except BaseException as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    dynamodb_calls.clear()
    metrics.clear_metrics()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    up.before_reply = None
    assert errors == []
    assert len(up.fetch_calls) == 2
    moves = [c for c in dynamodb_calls if c[0] == "UpdateItem" and c[1].endswith("tasks")]
    assert len(moves) == 6  # each worker tried each task; the conditions let one per task through
    for t in batch:
        stored = task_store.get(t.task_id)
        assert stored.status == states.FAILURE and stored.version == 2
    assert emitted(capsys, "TasksFailed") == 3  # counted by the winners only
    messages = drain("refund")
    assert sorted(m["task_id"] for m in messages) == sorted(ids)  # one refund message per task, from the winner
    jobs().refund_worker(sqs_event(messages + messages, "refund"), None)
    assert sorted(e.task_id for e in refunds_of(user)) == sorted(ids)
    assert emitted(capsys, "Refunds") == 3
    assert money.audit_user(user.user_id).ok


# ---------------------------------------------------------------- tasks that cannot be followed
def test_forgotten_tasks_missing_ids_and_dead_channels_fail_and_are_refunded(engine_world, monkeypatch):
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    monkeypatch.setenv("POLL_MAX_MISSES", "3")
    forgotten = new_charged_task(user, ch)  # the upstream never heard of it
    for n in (1, 2):
        poll([forgotten.task_id], ch)
        stored = task_store.get(forgotten.task_id)
        assert stored.status == states.SUBMITTED and stored.poll_misses == n
    up.set(forgotten.upstream_id, states.SUBMITTED)  # seen again: the count starts over
    poll([forgotten.task_id], ch)
    assert task_store.get(forgotten.task_id).poll_misses == 0
    up.forget(forgotten.upstream_id)
    for _ in range(3):
        poll([forgotten.task_id], ch)
    stored = task_store.get(forgotten.task_id)
    assert stored.status == states.FAILURE and "no longer knows" in stored.fail_reason

    no_id = new_charged_task(user, ch, upstream_id="")
    calls_before = len(up.fetch_calls)
    poll([no_id.task_id], ch)
    assert task_store.get(no_id.task_id).fail_reason == "missing upstream id"
    assert len(up.fetch_calls) == calls_before  # nothing to ask the upstream

    disabled_ch, deleted_ch = engine_world.channels["suno-b"], admin.create_channel("suno", "https://c.example.com")["id"]
    on_disabled = new_charged_task(user, disabled_ch)
    on_deleted = new_charged_task(user, deleted_ch)
    admin.update_channel(disabled_ch, status=2)
    admin.delete_channel(deleted_ch)
    up.set(on_disabled.upstream_id, states.SUBMITTED)
    poll([on_disabled.task_id], disabled_ch)
    poll([on_deleted.task_id], deleted_ch)
    # a disabled channel drains (its tasks are still polled); a deleted one fails them (test_channel_drain.py)
    assert task_store.get(on_disabled.task_id).status == states.SUBMITTED
    assert task_store.get(on_deleted.task_id).fail_reason == "the channel of this task was deleted"

    failed = [forgotten, no_id, on_deleted]
    assert run_queue("refund", jobs().refund_worker) == 3
    assert sorted(e.task_id for e in refunds_of(user)) == sorted(t.task_id for t in failed)
    for t in failed:
        assert task_store.get(t.task_id).billing == states.BILLING_REFUNDED
    assert money.audit_user(user.user_id).ok


# ---------------------------------------------------------------- chains (fast lane)
def test_fresh_tasks_chain_themselves_merged_and_stale_ones_leave_the_chain(engine_world, monkeypatch):
    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    monkeypatch.setenv("POLL_BATCH_SIZE", "2")
    fresh = [new_charged_task(user, ch) for _ in range(3)]
    for t in fresh:
        up.set(t.upstream_id, states.SUBMITTED)
    # three single-task messages (as submission sends them) in one Lambda batch
    event = sqs_event([{"channel_id": ch, "task_ids": [t.task_id], "chain": 0} for t in fresh])
    assert jobs().poll_worker(event, None) == {"batchItemFailures": []}
    follow = drain("poll")
    assert [len(m["task_ids"]) for m in follow] == [2, 1]  # merged per channel, in batches of POLL_BATCH_SIZE
    assert sorted(i for m in follow for i in m["task_ids"]) == sorted(t.task_id for t in fresh)
    assert all(m["chain"] == 1 and m["channel_id"] == ch for m in follow)

    # past the fast window without a change: the chain lets go (the dispatcher takes over, slowly)
    clock.advance(settings.get().poll_fast_window_seconds + 1)
    poll([fresh[0].task_id], ch, chain=5)
    assert drain("poll") == []
    # a move makes it fresh again
    up.set(fresh[0].upstream_id, states.IN_PROGRESS)
    poll([fresh[0].task_id], ch, chain=6)
    assert [m["task_ids"] for m in drain("poll")] == [[fresh[0].task_id]]
    # finished tasks and the chain cap end chains
    up.set(fresh[0].upstream_id, states.SUCCESS)
    poll([fresh[0].task_id], ch, chain=7)
    monkeypatch.setenv("POLL_CHAIN_MAX_LINKS", "3")
    up.set(fresh[1].upstream_id, states.QUEUED)
    poll([fresh[1].task_id], ch, chain=3)
    assert drain("poll") == []


# ---------------------------------------------------------------- dispatcher (slow lane)
def test_dispatcher_groups_by_channel_starts_not_started_and_backs_off(engine_world, monkeypatch, dynamodb_calls):
    user = engine_world.user
    ch_a, ch_b = engine_world.channels["suno"], engine_world.channels["suno-b"]
    monkeypatch.setenv("POLL_BATCH_SIZE", "5")  # (50 by default; small here to keep the world small)
    now = clock.now_ms()
    for _ in range(7):
        new_charged_task(user, ch_a, next_poll_at=now)
    on_b = [new_charged_task(user, ch_b, next_poll_at=now) for _ in range(2)]
    waiting = new_charged_task(user, 0, status=states.NOT_START, upstream_id="", next_poll_at=now)
    future = new_charged_task(user, ch_a, next_poll_at=now + 3_600_000)

    # all fresh (just submitted): the chains cover them; only the NOT_START task gets a retry message
    dynamodb_calls.clear()
    report = jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    # the sparse keys-only index (one Query per shard, no scan), then each shard's due items (one BatchGetItem
    # for a shard with any); the one write holds the NOT_START task for its start message
    ops = [op for op, _ in dynamodb_calls]
    assert sorted(set(ops)) == ["BatchGetItem", "Query", "UpdateItem"]
    assert ops.count("Query") == settings.get().poll_shards and ops.count("UpdateItem") == 1
    assert ops.count("BatchGetItem") <= settings.get().poll_shards
    assert (report["due"], report["polled"], report["retries"], report["skipped_fresh"]) == (10, 0, 1, 9)
    hold_until = clock.now_ms() + settings.get().retry_claim_seconds * 1000
    start_message = {"task_id": waiting.task_id, "attempt": 1, "reason": "start", "hold_until": hold_until}
    assert drain("retry") == [start_message]
    assert drain("poll") == []
    # held: the next run does not send it again while its message waits in a backlog ...
    jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    assert drain("retry") == []
    # ... a message without the hold is refused as early (the task is not due), the held one is accepted
    assert retries.retry_from_message({**start_message, "hold_until": 0}) == retries.IGNORED
    assert task_store.get(waiting.task_id).status == states.NOT_START

    # stale: one message per channel batch
    clock.advance(settings.get().poll_fast_window_seconds)
    jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    sent = drain("poll")
    assert sorted((m["channel_id"], len(m["task_ids"])) for m in sent) == sorted([(ch_a, 5), (ch_a, 2), (ch_b, 2)])
    assert future.task_id not in {i for m in sent for i in m["task_ids"]}
    # the hold ran out (the claim window): the task is due again and held for a new message
    renewed = drain("retry")
    assert [(m["task_id"], m["hold_until"] > hold_until) for m in renewed] == [(waiting.task_id, True)]

    # backoff: with nothing changing, count dispatcher polls of one task minute by minute for 3 hours
    polled_minutes = []
    start = clock.now_ms()
    stale = task_store.get(on_b[0].task_id)  # unchanged polls write nothing: the item stays as it is
    for minute in range(1, 181):
        clock.set_now(start + minute * 60_000)
        messages, _, _ = engine.plan_dispatch([stale], clock.now_ms())
        if messages:
            polled_minutes.append(minute)
    assert polled_minutes[:10] == list(range(1, 10)) + [10]  # every minute at first
    gaps = [b - a for a, b in zip(polled_minutes, polled_minutes[1:], strict=False)]
    assert gaps[-1] == engine.SLOW_STEP_MAX_MINUTES and sorted(set(gaps)) == [1, 2, 5, 10]
    assert len(polled_minutes) == 10 + 10 + 18 + 6  # 1, 2, 5, 10-minute steps; 180 without backoff

    # while the newest hold runs, the message it was made for is accepted and the superseded one is not
    clock.set_now(renewed[0]["hold_until"] - 60_000)
    assert retries.retry_from_message(start_message) == retries.IGNORED
    assert retries.retry_from_message(renewed[0]) == retries.DISPATCHED
    assert task_store.get(waiting.task_id).status == states.SUBMITTED


# ---------------------------------------------------------------- failures and the dead-letter queue
def test_failing_messages_are_reported_retried_and_dead_lettered(engine_world):
    from taskcenter import queues

    up, ch, user = engine_world.extra["upstream"], engine_world.channels["suno"], engine_world.user
    good = new_charged_task(user, ch)
    up.set(good.upstream_id, states.SUCCESS)
    event = sqs_event([{"channel_id": ch, "task_ids": [good.task_id]}, {"channel_id": ch, "task_ids": "oops"}],
                      ids=["ok", "poison"])
    assert jobs().poll_worker(event, None) == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert task_store.get(good.task_id).status == states.SUCCESS

    # an upstream outage fails the message (SQS redelivers it); after maxReceiveCount it is dead-lettered
    stuck = new_charged_task(user, ch)
    up.fetch_error = transient()
    queues.send("poll", {"channel_id": ch, "task_ids": [stuck.task_id], "chain": 0})
    queues.send("refund", {"task_id": "nope"})  # malformed refund message: dead-lettered too
    for _ in range(6):
        run_queue("poll", jobs().poll_worker, rounds=1)
        run_queue("refund", jobs().refund_worker, rounds=1)
    assert [m["task_ids"] for m in drain("poll", dlq=True)] == [[stuck.task_id]]
    assert drain("refund", dlq=True) == [{"task_id": "nope"}]
    assert receive("poll") == [] and task_store.get(stuck.task_id).status == states.SUBMITTED
    assert len(up.fetch_calls) >= 5


def test_a_moved_task_keeps_its_poll_entry_and_the_dispatcher_takes_it_when_its_chain_is_lost(
        engine_world, dynamodb_calls):
    """A move does not re-key the task's poll_due entry (2 write units each: docs/engine.md, "Polling"): the
    dispatcher reads it, skips it while it is fresh (its chain has it), and polls it once stale, so a chain
    message lost after the move loses nothing."""
    up, ch = engine_world.extra["upstream"], engine_world.channels["suno"]
    task = new_charged_task(engine_world.user, ch, next_poll_at=clock.now_ms() + 5_000)
    up.set(task.upstream_id, states.IN_PROGRESS)
    clock.advance(10)
    poll([task.task_id], ch)
    assert task_store.get(task.task_id).status == states.IN_PROGRESS
    drain("poll")  # the chain's next link is lost
    report = jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    assert (report["due"], report["polled"], report["skipped_fresh"]) == (1, 0, 1)
    clock.advance(settings.get().poll_fast_window_seconds + 1)
    report = jobs().poll_dispatcher(SCHEDULE_EVENT, None)
    assert report["polled"] == 1 and [m["task_ids"] for m in drain("poll")] == [[task.task_id]]
