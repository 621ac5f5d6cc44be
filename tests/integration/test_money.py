"""Money primitives (store/money.py, docs/architecture.md#money) against moto: charge, refund, credit, audit.

The property that matters most: a refund happens exactly once per attempt, whoever races for it.
"""

from __future__ import annotations

import threading

import pytest
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, Forbidden, InsufficientQuota, NotFound
from taskcenter.services.admin import operations as admin
from taskcenter.store import counters, money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Credential, LedgerEntry, Task, User

from tests.support import make_account, snapshot_tables

START = 10_000_000


def new_task(account, *, quota: int = 1000) -> Task:
    nid = counters.next_id("task")
    return task_store.build_task(task_id=f"task_m{nid}", numeric_id=nid, kind="task", platform="suno",
                                 user_id=account.user_id, action="MUSIC", channel_id=1, quota=quota,
                                 model_name="suno_music", key_hash=account.key_hash)


def charge(account, *tasks: Task) -> None:
    task_store.create_charged(money.Payer(account.user_id, account.key_hash), list(tasks))


def failed_task(account, quota: int = 1000) -> Task:
    """A charged task that reached FAILURE: refund_pending, as the engine leaves it."""
    task = new_task(account, quota=quota)
    charge(account, task)
    assert task_store.transition(task, states.FAILURE, fail_reason="upstream failed")
    return task


def ledger(user_id: int, kind: str) -> list[LedgerEntry]:
    return [e for e in LedgerEntry.query(user_id, consistent_read=True) if e.kind == kind]


def user_total(user_id: int, status: str = "ALL") -> int:
    return counters.read_sum(listing.counter_names_for_read("lu", f"u#{user_id}#task", status))


# ---------------------------------------------------------------- charge
def test_charge_writes_user_key_ledger_task_and_counters_in_one_transaction(world, dynamodb_calls):
    task = new_task(world.user, quota=1500)
    dynamodb_calls.clear()
    charge(world.user, task)
    assert [op for op, _ in dynamodb_calls] == ["TransactWriteItems"]

    user = User.get(world.user.user_id, consistent_read=True)
    assert (user.quota, user.used_quota, user.request_count) == (START - 1500, 1500, 1)
    key = Credential.get(world.user.key_hash, consistent_read=True)
    assert key.used_quota == 1500 and key.remaining_quota == -1500  # unlimited keys track it too
    entry = LedgerEntry.get(world.user.user_id, f"charge#{task.task_id}#1", consistent_read=True)
    assert (entry.kind, entry.amount, entry.task_id, entry.key_hash) == ("charge", 1500, task.task_id,
                                                                         world.user.key_hash)
    stored = task_store.get(task.task_id)
    assert stored.billing == states.BILLING_CHARGED and stored.quota == 1500
    assert user_total(world.user.user_id) == 1 and user_total(world.user.user_id, states.NOT_START) == 1
    assert money.audit_user(world.user.user_id).ok


def test_several_tasks_are_charged_together(world):
    tasks = [new_task(world.user, quota=q) for q in (100, 200, 300)]
    charge(world.user, *tasks)
    user = User.get(world.user.user_id, consistent_read=True)
    assert (user.quota, user.used_quota, user.request_count) == (START - 600, 600, 3)
    assert len(ledger(world.user.user_id, "charge")) == 3
    assert user_total(world.user.user_id) == 3


def test_insufficient_user_quota_raises_and_writes_nothing(world):
    before = snapshot_tables()
    with pytest.raises(InsufficientQuota) as info:
        charge(world.user, new_task(world.user, quota=START + 1))
    assert info.value.code == "insufficient_user_quota"
    after = snapshot_tables()
    # the only change is the numeric id reserved by new_task (ids are unique, not dense)
    assert {k: v for k, v in after.items() if "counters" not in k} == {
        k: v for k, v in before.items() if "counters" not in k}
    assert user_total(world.user.user_id) == 0


def test_limited_key_with_too_little_remaining_is_refused_and_nothing_is_written(aws):
    account = make_account("limited", quota=START, key_quota=500)
    task = new_task(account, quota=501)
    before = snapshot_tables()
    with pytest.raises(InsufficientQuota) as info:
        charge(account, task)
    assert info.value.code == "insufficient_token_quota"
    assert snapshot_tables() == before
    # exactly the remaining amount is fine
    charge(account, new_task(account, quota=500))
    assert Credential.get(account.key_hash, consistent_read=True).remaining_quota == 0


def test_revoked_key_cannot_pay(world):
    admin.revoke_credential(world.user.api_key)
    with pytest.raises(InsufficientQuota) as info:
        charge(world.user, new_task(world.user))
    assert info.value.code == "insufficient_token_quota"
    assert User.get(world.user.user_id, consistent_read=True).quota == START


def test_disabled_user_cannot_be_charged(world):
    admin.update_user(world.user.user_id, status=2)
    task = new_task(world.user)
    before = snapshot_tables()
    with pytest.raises(Forbidden) as info:
        charge(world.user, task)
    assert "disabled" in info.value.message
    assert snapshot_tables() == before


def test_a_task_id_cannot_be_charged_twice(world):
    task = new_task(world.user)
    charge(world.user, task)
    again = task_store.build_task(task_id=task.task_id, numeric_id=task.id, kind="task", platform="suno",
                                  user_id=world.user.user_id, action="MUSIC", quota=1000,
                                  key_hash=world.user.key_hash)
    with pytest.raises(Exception):  # noqa: B017 - Conflict: the task (and its ledger entry) exist
        charge(world.user, again)
    assert User.get(world.user.user_id, consistent_read=True).quota == START - 1000


# ---------------------------------------------------------------- refund
def test_refund_restores_quota_key_and_marks_the_task(aws):
    account = make_account("refundee", quota=START, key_quota=5000)
    task = failed_task(account, quota=1200)
    assert money.refund_task(task.task_id) is True

    user = User.get(account.user_id, consistent_read=True)
    assert (user.quota, user.used_quota) == (START, 0)
    key = Credential.get(account.key_hash, consistent_read=True)
    assert (key.remaining_quota, key.used_quota) == (5000, 0)
    stored = task_store.get(task.task_id)
    assert stored.billing == states.BILLING_REFUNDED and stored.refund_due_ms is None
    refunds = ledger(account.user_id, "refund")
    assert [(e.entry, e.amount) for e in refunds] == [(f"refund#{task.task_id}#1", 1200)]
    assert money.audit_user(account.user_id).ok


def test_refund_reaches_a_key_revoked_after_the_charge(world):
    task = failed_task(world.user)
    admin.revoke_credential(world.user.api_key)
    assert money.refund_task(task.task_id) is True
    assert Credential.get(world.user.key_hash, consistent_read=True).used_quota == 0


def test_refund_of_a_task_not_refund_pending_is_a_no_op(world):
    charged = new_task(world.user)
    charge(world.user, charged)
    refunded = failed_task(world.user).task_id
    assert money.refund_task(refunded)
    free = new_task(world.user, quota=0)
    charge(world.user, free)
    assert task_store.transition(free, states.FAILURE)
    pending = failed_task(world.user).task_id
    cases = {"charged, not failed": (charged.task_id, None), "already refunded": (refunded, None),
             "free": (free.task_id, None), "missing": ("task_nope", None), "other attempt": (pending, 2)}
    before = snapshot_tables()
    for name, (task_id, attempt) in cases.items():
        assert money.refund_task(task_id, attempt) is False, name
    assert snapshot_tables() == before
    assert money.refund_task(pending) is True  # the pending attempt itself is still owed


def _assert_refunded_once(account, task: Task, quota: int = 1000) -> None:
    assert [e.entry for e in ledger(account.user_id, "refund")] == [f"refund#{task.task_id}#1"]
    user = User.get(account.user_id, consistent_read=True)
    assert (user.quota, user.used_quota) == (START, 0)  # not START + quota: no double refund
    assert Credential.get(account.key_hash, consistent_read=True).used_quota == 0
    assert task_store.get(task.task_id).billing == states.BILLING_REFUNDED
    assert money.audit_user(account.user_id).ok


def test_two_refunds_racing_in_threads_refund_once(world, monkeypatch):
    """Both threads hold the refund_pending task (past the pre-read) before either writes."""
    task = failed_task(world.user)
    barrier = threading.Barrier(2, timeout=10)
    real_get = Task.get

    def get_then_wait(*args, **kwargs):
        found = real_get(*args, **kwargs)
        barrier.wait()  # neither thread writes until both have read
        return found

    monkeypatch.setattr(Task, "get", get_then_wait)
    results: list[bool] = []
    errors: list[BaseException] = []

    def refund() -> None:
        try:
            results.append(money.refund_task(task.task_id))
        except BaseException as error:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    monkeypatch.setattr(Task, "get", real_get)
    assert not errors
    assert sorted(results) == [False, True]
    _assert_refunded_once(world.user, task)


def test_many_refunders_racing_refund_once(world):
    task = failed_task(world.user)
    barrier = threading.Barrier(6, timeout=10)
    results: list[bool] = []

    def refund() -> None:
        barrier.wait()
        results.append(money.refund_task(task.task_id))

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 5 + [True]
    _assert_refunded_once(world.user, task)


def test_two_refunds_interleaved_deterministically_refund_once(world, monkeypatch):
    """Caller A reads the task; caller B then reads, writes and wins; A writes from its stale read and loses."""
    task = failed_task(world.user)
    real_get = Task.get
    inner: list[bool] = []

    def get_then_let_the_other_caller_run(*args, **kwargs):
        found = real_get(*args, **kwargs)
        if not inner:
            monkeypatch.setattr(Task, "get", real_get)
            inner.append(money.refund_task(task.task_id))  # B: complete refund while A holds its read
        return found

    monkeypatch.setattr(Task, "get", get_then_let_the_other_caller_run)
    outer = money.refund_task(task.task_id)  # A
    assert inner == [True] and outer is False
    _assert_refunded_once(world.user, task)


def test_a_retried_attempt_is_refunded_separately(world):
    """Attempt 1 refunded; the task is charged again as attempt 2, fails, and attempt 2 is refunded too."""
    task = failed_task(world.user)
    assert money.refund_task(task.task_id)
    entry = f"charge#{task.task_id}#2"

    def recharge(tx) -> None:
        tx.update(Task(task_id=task.task_id),
                  actions=[Task.attempt.set(2), Task.billing.set(states.BILLING_REFUND_PENDING)],
                  condition=Task.billing == states.BILLING_REFUNDED)

    money.charge_submission(money.Payer(world.user.user_id, world.user.key_hash),
                            [money.Charge(task.task_id, 2, 1000)], recharge)
    assert LedgerEntry.get(world.user.user_id, entry).amount == 1000
    assert money.refund_task(task.task_id, 1) is False
    assert money.refund_task(task.task_id) is True
    assert sorted(e.entry for e in ledger(world.user.user_id, "refund")) == [
        f"refund#{task.task_id}#1", f"refund#{task.task_id}#2"]
    assert User.get(world.user.user_id, consistent_read=True).quota == START
    assert money.audit_user(world.user.user_id).ok


# ---------------------------------------------------------------- credit and audit
def test_credit_is_positive_integers_only(world):
    before = snapshot_tables()
    for amount in (0, -1, 1.5, True, "100"):
        with pytest.raises(BadInput):
            money.credit_user(world.user.user_id, amount)
    assert snapshot_tables() == before


def test_credit_of_an_unknown_user_writes_nothing(world):
    before = snapshot_tables()
    with pytest.raises(NotFound):
        money.credit_user(424242, 100)
    assert snapshot_tables() == before


def test_credit_adds_quota_and_a_ledger_entry(world):
    assert money.credit_user(world.user.user_id, 700, note="invoice 12") == START + 700
    assert sorted(e.amount for e in ledger(world.user.user_id, "credit")) == [700, START]
    assert money.audit_user(world.user.user_id).ok


def test_audit_holds_through_charges_refunds_and_credits(world):
    tasks = [new_task(world.user, quota=q) for q in (300, 400)]
    charge(world.user, *tasks)
    assert task_store.transition(tasks[0], states.FAILURE)
    assert money.refund_task(tasks[0].task_id)
    money.credit_user(world.user.user_id, 50)
    result = money.audit_user(world.user.user_id)
    assert result.ok and (result.credits, result.charges, result.refunds) == (START + 50, 700, 300)
    assert result.quota == START + 50 - 400


def test_audit_detects_a_tampered_quota(world):
    User(id=world.user.user_id).update(actions=[User.quota.add(999)])  # a write that bypassed the ledger
    result = money.audit_user(world.user.user_id)
    assert not result.ok and result.quota - result.expected_quota == 999
    report = admin.audit(world.user.user_id)
    assert report["ok"] is False
    assert report["mismatches"] == [{"user_id": world.user.user_id, "quota": START + 999, "expected_quota": START,
                                     "used_quota": 0, "expected_used_quota": 0}]
    # the recent-activity audit (the reconciler's) finds it too
    assert world.user.user_id in [m["user_id"] for m in admin.audit()["mismatches"]]


def test_audit_detects_a_tampered_used_quota(world):
    User(id=world.user.user_id).update(actions=[User.used_quota.add(5)])
    assert not money.audit_user(world.user.user_id).ok
