"""Task API v1 creates too large for one transaction, under DynamoDB's real limits (issue 12, items 1 and 2).

- 1,000 tasks (the documented maximum) through the route: every task written, charged once, counted; no
  TransactWriteItems request over 100 items (moto refuses more, and the botocore hook records each size).
- A limited key that runs out part-way: the reply is the refusal, and nothing is left: no task, no charge
  (ledger audit true, user and key quota back), no start message.
- The dispatcher, the retry worker, admission wake-ups and the sweeper running between chunks cannot
  start a task of the create.

moto's in-process backend deep-copies every table a transaction names; the local stack's item snapshots
(infra/local/moto_main.py, equivalent while requests are serialised, as the `aws` fixture does) keep
1,000 tasks quick. No limit is patched.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

import moto.dynamodb.models as dynamodb_models
import pytest
from taskcenter import clock, settings
from taskcenter.domain import pricing, states
from taskcenter.store import money
from taskcenter.store.models import Credential, LedgerEntry, Task

from tests.integration.v1_support import V1World, quota, retry_messages, run_retry_worker
from tests.support import Account, make_account, record_dynamodb_calls

DEVICES = [f"fan{i:03d}" for i in range(200)]


@pytest.fixture
def fan_out(v1: V1World, monkeypatch: pytest.MonkeyPatch) -> V1World:
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    from infra.local import moto_main

    monkeypatch.setattr(dynamodb_models, "copy", moto_main._TablesByReference())
    monkeypatch.setattr(dynamodb_models.DynamoDBBackend, "transact_write_items",
                        moto_main.transact_with_item_snapshots(dynamodb_models.DynamoDBBackend.transact_write_items))
    admin.update_channel(v1.channel_id, devices=DEVICES + ["dev1", "dev2", "dev3", "dev4", "dev5"])
    channels.clear_cache()
    return v1


def _body(devices: int, targets: int) -> dict[str, Any]:
    return {"serials": DEVICES[:devices], "script_name": "follow",
            "script_config": {"target_usernames": [f"t{i}" for i in range(targets)]}}


def _tasks_of(account: Account) -> list[Task]:
    index = Task.user_platform_status  # type: ignore[attr-defined]
    rows = list(index.query(f"u#{account.user_id}#task#p#tikmatrix"))  # keys (docs/listing.md): the items next
    return list(Task.batch_get([row.task_id for row in rows], consistent_read=True)) if rows else []


def _ledger(account: Account) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.query(account.user_id, consistent_read=True) if e.kind != "credit"]


def _key_remaining(account: Account) -> int:
    return int(Credential.get(account.key_hash, consistent_read=True).remaining_quota or 0)


def test_a_1000_task_create_is_written_whole_under_the_real_transaction_limit(fan_out: V1World) -> None:
    v1, price = fan_out, pricing.quota_for("v1_follow", "default")
    before, key_before = quota(v1.user), _key_remaining(v1.user)
    recorder = record_dynamodb_calls()
    with recorder:
        ids = v1.create(_body(200, 5))  # 200 devices x 5 targets: every task on its own device scope
    assert len(ids) == len(set(ids)) == 1000
    assert recorder.transaction_sizes and max(recorder.transaction_sizes) <= 100
    assert len(recorder.transaction_sizes) <= 70  # chunks as full as the items allow (about 20 tasks each)

    tasks = {int(t.id): t for t in Task.batch_get([f"v1_{n}" for n in ids], consistent_read=True)}
    assert sorted(tasks) == sorted(ids)
    assert {(t.status, t.create_hold, t.next_poll_at is not None) for t in tasks.values()} == {
        (states.NOT_START, None, True)}  # released: due (the dispatcher's safety net), nothing held
    charges = Tally(e.task_id for e in _ledger(v1.user) if e.kind == "charge")
    assert charges == Tally({f"v1_{n}": 1 for n in ids})  # each charged exactly once
    assert not [e for e in _ledger(v1.user) if e.kind == "refund"]
    assert quota(v1.user) == before - 1000 * price and _key_remaining(v1.user) <= key_before
    assert money.audit_user(v1.user.user_id).ok
    stats = v1.call("GET", "/api/v1/task/stats")[1]["data"]
    assert (stats["total"], stats["pending"]) == (1000, 1000)
    assert v1.call("GET", "/api/v1/task", {})[1]["data"]["total"] == 1000
    # Started at once: the first task of each device up to the plan's running limit (Pro: 20); the others
    # are due after the admission recheck, as admission would have deferred them (a freed slot wakes them).
    started = sorted(int(m["task_id"][3:]) for m in retry_messages() if m.get("reason") == "start")
    assert started == ids[:100:5][:20]


def _spend_between_chunks(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[int], None]) -> list[int]:
    """Run `meanwhile(chunk number)` before every chunk after the first (what other requests and the
    background jobs may do while a create is being written). Returns the sizes of the chunks written."""
    from taskcenter.services.task_api_v1 import create as v1_create
    from taskcenter.store import tasks as task_store

    written: list[int] = []
    original = task_store.create_charged

    busy: list[bool] = []

    def create_charged(payer: money.Payer, tasks: list[Task]) -> None:
        if busy:  # the other request's own write
            original(payer, tasks)
            return
        if written:
            busy.append(True)
            try:
                meanwhile(len(written))
            finally:
                busy.clear()
        original(payer, tasks)
        written.append(len(tasks))

    monkeypatch.setattr(v1_create.task_store, "create_charged", create_charged)
    return written


def test_a_limited_key_that_runs_out_part_way_leaves_no_task_and_no_charge(
        fan_out: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, price = fan_out, pricing.quota_for("v1_follow", "default")
    small = {"serials": ["dev1"], "script_name": "follow", "script_config": {"target_usernames": ["x"]}}
    poor = make_account("limited", quota=price * 10_000, key_quota=price * 200)
    user_before, key_before = quota(poor), _key_remaining(poor)

    status, reply = v1.call("POST", "/api/v1/task", _body(60, 4), account=poor)  # 240 tasks, the key pays 200
    assert (status, reply["code"]) == (403, 40300) and "token quota" in reply["message"]
    assert _ledger(poor) == []  # refused up front: the precheck covers the key, nothing was written

    spent: list[int] = []

    def spend(chunk: int) -> None:  # another request spends 10 from the key while chunk 3 is due
        if chunk == 3 and not spent:
            spent.append(0)
            spent[:] = v1.create({**small, "script_config": {"target_usernames": [f"o{i}" for i in range(10)]}},
                                 account=poor)

    written = _spend_between_chunks(monkeypatch, spend)
    status, reply = v1.call("POST", "/api/v1/task", _body(50, 4), account=poor)  # 200: passes the precheck
    assert (status, reply["code"]) == (403, 40300), (reply, written)
    assert len(written) >= 3 and spent  # refused part-way, after chunks were written
    cost = len(spent) * price
    assert quota(poor) == user_before - cost and _key_remaining(poor) == key_before - cost
    assert money.audit_user(poor.user_id).ok
    left = _tasks_of(poor)
    assert sorted(int(t.id) for t in left) == sorted(spent)  # zero tasks of the refused create
    ledger = _ledger(poor)
    # a refused create leaves no entry: its charges are deleted with its tasks, not paired with refunds
    assert {e.task_id for e in ledger} == {f"v1_{n}" for n in spent}
    assert all(e.kind == "charge" for e in ledger) and written
    starts = {m["task_id"] for m in retry_messages() if m.get("reason") == "start"}
    assert starts == {f"v1_{n}" for n in spent}  # no start message for a refused task
    assert v1.call("GET", "/api/v1/task/stats", account=poor)[1]["data"]["total"] == len(spent)


def test_nothing_can_start_a_task_of_a_create_still_being_written(
        fan_out: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskcenter.services.jobs import polling as engine
    from taskcenter.services.jobs import retry_worker as retries
    from taskcenter.services.jobs import sweeper
    from taskcenter.services.task_api_v1 import admission as v1_admission

    v1, price = fan_out, pricing.quota_for("v1_follow", "default")
    poor = make_account("raced", quota=price * 10_000, key_quota=price * 150)
    seen: list[dict[str, Any]] = []

    def interfere(chunk: int) -> None:
        written = [t for t in _tasks_of(poor)]
        assert written
        clock.set_now(clock.now_ms() + 200_000)  # past the submission rescue time of the tasks written
        try:
            engine.dispatch_due_polls()  # the every-minute dispatcher
            v1_admission.wake_waiting(poor.user_id, written[0].serial)  # a slot freed on the device
            for task in written:  # a stray start message, as a duplicate delivery would bring
                retries.retry_from_message({"task_id": task.task_id, "attempt": 1, "reason": "start"})
            run_retry_worker()
            sweeper.sweep_timeouts()
        finally:
            clock.set_now(None)
        seen.extend({"status": t.status, "hold": t.create_hold, "poll": t.next_poll_at, "upstream": t.upstream_id}
                    for t in Task.batch_get([t.task_id for t in written], consistent_read=True))
        if chunk == 3:  # then the key runs out (another request spends it)
            Credential(token_hash=poor.key_hash).update(actions=[Credential.remaining_quota.set(0)])

    chunks = _spend_between_chunks(monkeypatch, interfere)
    status, reply = v1.call("POST", "/api/v1/task", _body(50, 3), account=poor)  # 150 tasks: 4 chunks (49 fill one)
    assert len(chunks) == 3, chunks  # the fourth was refused (the key ran out)
    assert (status, reply["code"]) == (403, 40300), reply
    assert seen and all(s["status"] == states.NOT_START and s["hold"] and s["poll"] is None and not s["upstream"]
                        for s in seen)
    assert v1.sim.tasks == {}  # the host never received one
    assert _tasks_of(poor) == [] and money.audit_user(poor.user_id).ok
    assert quota(poor) == price * 10_000


def test_a_create_that_fits_one_transaction_is_one_transaction_and_dispatchable_at_once(v1: V1World) -> None:
    recorder = record_dynamodb_calls()
    with recorder:
        ids = v1.create({"serials": ["dev1", "dev2"], "script_name": "follow",
                         "script_config": {"target_usernames": ["a", "b", "c"]}})
    assert len(ids) == 6 and len(recorder.transaction_sizes) == 1
    assert all(Task.get(f"v1_{n}").create_hold is None for n in ids)


def test_a_refusal_that_cannot_be_withdrawn_is_not_answered_as_refused_and_is_refunded_anyway(
        fan_out: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from taskcenter import config
    from taskcenter.services.jobs import refunds, sweeper
    from taskcenter.store import held_create

    v1, price = fan_out, pricing.quota_for("v1_follow", "default")
    poor = make_account("stuck", quota=price * 10_000, key_quota=price * 100)

    def key_spent(chunk: int) -> None:
        if chunk == 2:  # another request spends the key: chunk 3 is refused
            Credential(token_hash=poor.key_hash).update(actions=[Credential.remaining_quota.set(0)])

    def store_down(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("the store is failing")

    _spend_between_chunks(monkeypatch, key_spent)
    monkeypatch.setattr(held_create, "withdraw", store_down)
    status, reply = v1.call("POST", "/api/v1/task", _body(25, 4), account=poor)  # 100 tasks: 3 chunks (49 fill one)
    assert (status, reply["code"]) == (500, 50001), reply  # not a refusal: some of it is still there
    assert "held" in reply["message"] and "refunded automatically" in reply["message"]
    left = _tasks_of(poor)
    assert left and all(t.create_hold and t.next_poll_at is None for t in left)  # never dispatchable
    assert not [m for m in retry_messages() if m.get("reason") == "start"]

    # the hold expires: the sweeper fails them
    clock.set_now(clock.now_ms() + settings.get().v1_create_hold_seconds * 1000 + 1000)
    try:
        assert len(sweeper.sweep_timeouts().timed_out) == len(left)
    finally:
        clock.set_now(None)
    sqs, url = boto3.client("sqs"), config.queue_url("refund")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            refunds.refund_from_message(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert quota(poor) == price * 10_000 and money.audit_user(poor.user_id).ok  # every charge came back
    assert v1.sim.tasks == {}  # and none of them ever ran
