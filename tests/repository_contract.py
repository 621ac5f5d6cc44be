"""One contract for every repository implementation (store/repositories.py), so the in-memory fake cannot
drift from DynamoDB: tests/unit/test_repositories_memory.py runs it against store.memory, and
tests/integration/test_repositories_dynamodb.py against the PynamoDB repositories on moto.

A subclass gives the `subject` fixture: the repositories and a way to seed users, keys and channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.domain.errors import Conflict, Forbidden, InsufficientQuota, NotFound, TooLarge
from taskcenter.store import held_create, item_size
from taskcenter.store import tasks as task_store
from taskcenter.store.models import REFUND_LANE, Channel, Credential, Task, User
from taskcenter.store.money import Payer, day_of
from taskcenter.store.repositories import REMOVE, Repositories

USER, KEY = 41, "contract-key-hash"


class Seeder(Protocol):
    def user(self, user: User) -> None: ...
    def credential(self, credential: Credential) -> None: ...
    def channel(self, channel: Channel) -> None: ...


@dataclass
class Subject:
    repos: Repositories
    seed: Seeder


def new_task(task_id: str, numeric_id: int, *, quota: int = 100, status: str = states.NOT_START,
             channel_id: int = 3) -> Task:
    return task_store.build_task(task_id=task_id, numeric_id=numeric_id, kind="task", platform="suno",
                                 user_id=USER, action="MUSIC", status=status, channel_id=channel_id, quota=quota,
                                 key_hash=KEY)


def user_counter(status: str) -> list[str]:
    return listing.counter_names_for_read("lu", f"u#{USER}#task", status)


class RepositoryContract:
    """The semantics services rely on. Subclasses provide `subject`."""

    @pytest.fixture
    def subject(self) -> Subject:
        raise NotImplementedError

    @pytest.fixture
    def funded(self, subject: Subject) -> Subject:
        subject.seed.user(User(id=USER, username="carol"))
        subject.repos.ledger.credit(USER, 1000)  # through the ledger, so every audit adds up
        subject.seed.credential(Credential(token_hash=KEY, kind="key", user_id=USER, unlimited=False,
                                           remaining_quota=500))
        return subject

    def charged(self, s: Subject, *tasks: Task) -> list[Task]:
        s.repos.ledger.charge(Payer(USER, KEY), list(tasks))
        return list(tasks)

    def balance(self, s: Subject) -> tuple[int, int, int]:
        key = s.repos.credentials.by_hash(KEY)
        audit = s.repos.ledger.audit(USER)
        assert audit.ok, audit
        return audit.quota, audit.used_quota, int(key.remaining_quota) if key else -1

    # -------------------------------------------------------------- charge
    def test_charge_writes_the_tasks_moves_every_balance_and_the_counters(self, funded: Subject) -> None:
        self.charged(funded, new_task("c1", 1), new_task("c2", 2, quota=50))
        assert {t.task_id for t in funded.repos.tasks.get_many(["c1", "c2", "nope"])} == {"c1", "c2"}
        assert self.balance(funded) == (850, 150, 350)
        assert funded.repos.ledger.audit(USER).charges == 150
        assert funded.repos.counters.read(user_counter("ALL")).total == 2
        assert funded.repos.counters.read(user_counter(states.NOT_START)).total == 2

    @pytest.mark.parametrize(("quota", "remaining", "code"), [(99, 500, "insufficient_user_quota"),
                                                              (1000, 99, "insufficient_token_quota")])
    def test_charge_that_cannot_be_paid_writes_nothing(self, subject: Subject, quota: int, remaining: int,
                                                        code: str) -> None:
        subject.seed.user(User(id=USER, username="carol"))
        subject.repos.ledger.credit(USER, quota)
        subject.seed.credential(Credential(token_hash=KEY, kind="key", user_id=USER, unlimited=False,
                                           remaining_quota=remaining))
        with pytest.raises(InsufficientQuota) as refused:
            self.charged(subject, new_task("p1", 1))
        assert refused.value.code == code
        assert subject.repos.tasks.get("p1") is None
        assert self.balance(subject) == (quota, 0, remaining)
        assert subject.repos.counters.read(user_counter("ALL")).total == 0

    def test_quota_never_goes_below_zero(self, funded: Subject) -> None:
        self.charged(funded, new_task("z1", 1, quota=1000 - 500))
        self.charged(funded, new_task("z2", 2, quota=0))  # free: still allowed
        funded.seed.credential(Credential(token_hash=KEY, kind="key", user_id=USER, unlimited=True))
        self.charged(funded, new_task("z3", 3, quota=500))
        with pytest.raises(InsufficientQuota):
            self.charged(funded, new_task("z4", 4, quota=1))
        assert funded.repos.ledger.audit(USER).quota == 0

    def test_disabled_user_is_refused(self, subject: Subject) -> None:
        subject.seed.user(User(id=USER, username="carol", quota=1000, status=2))
        with pytest.raises(Forbidden):
            self.charged(subject, new_task("d1", 1))
        assert subject.repos.tasks.get("d1") is None

    def test_charge_of_an_existing_task_is_a_conflict_and_moves_nothing(self, funded: Subject) -> None:
        self.charged(funded, new_task("e1", 1))
        with pytest.raises(Conflict):
            self.charged(funded, new_task("e2", 2), new_task("e1", 1))
        assert funded.repos.tasks.get("e2") is None
        assert self.balance(funded) == (900, 100, 400)

    def test_a_task_too_large_to_store_is_refused_before_anything_is_written(self, funded: Subject) -> None:
        big = new_task("b2", 2)
        big.properties = {"input": "x" * item_size.MAX_ITEM_BYTES}  # past DynamoDB's item limit, whatever else
        with pytest.raises(TooLarge):
            self.charged(funded, new_task("b1", 1), big)
        assert funded.repos.tasks.get_many(["b1", "b2"]) == []
        assert self.balance(funded) == (1000, 0, 500)

    # -------------------------------------------------------------- conditional writes
    def test_a_transition_has_one_winner(self, funded: Subject) -> None:
        self.charged(funded, new_task("r1", 1))
        mine, theirs = funded.repos.tasks.get("r1"), funded.repos.tasks.get("r1")
        assert funded.repos.tasks.transition(mine, states.SUBMITTED, {"upstream_id": "u-1"})
        assert (mine.status, int(mine.version), mine.upstream_id) == (states.SUBMITTED, 2, "u-1")
        assert not funded.repos.tasks.transition(theirs, states.FAILURE, fail_reason="late")
        assert theirs.status == states.NOT_START  # the loser is not refreshed
        stored = funded.repos.tasks.get("r1")
        assert (stored.status, int(stored.version), stored.billing) == (states.SUBMITTED, 2, states.BILLING_CHARGED)
        assert funded.repos.counters.read(user_counter(states.SUBMITTED)).total == 1
        assert funded.repos.counters.read(user_counter(states.NOT_START)).total == 0
        assert funded.repos.counters.read(user_counter("ALL")).total == 1

    def test_failure_of_a_charged_attempt_owes_a_refund_paid_once(self, funded: Subject) -> None:
        task = self.charged(funded, new_task("f1", 1))[0]
        assert funded.repos.tasks.transition(task, states.FAILURE, fail_reason="boom")
        assert (task.billing, task.fail_reason, task.progress) == (states.BILLING_REFUND_PENDING, "boom", "100%")
        assert (task.due_lane, task.next_poll_at, task.poll_shard) == (REFUND_LANE, None, None)
        assert not funded.repos.ledger.refund("f1", 2)  # another attempt: nothing owed
        assert funded.repos.ledger.refund("f1", 1)
        assert not funded.repos.ledger.refund("f1", 1)
        assert not funded.repos.ledger.refund("f1")
        assert self.balance(funded) == (1000, 0, 500)
        stored = funded.repos.tasks.get("f1")
        assert (stored.billing, stored.due_lane, stored.refund_due_ms) == (states.BILLING_REFUNDED, None, None)
        assert funded.repos.ledger.audit(USER).refunds == 100

    def test_nothing_is_refunded_that_is_not_owed(self, funded: Subject) -> None:
        self.charged(funded, new_task("n1", 1))
        assert not funded.repos.ledger.refund("n1", 1)  # charged, not failed
        assert not funded.repos.ledger.refund("missing", 1)
        assert self.balance(funded) == (900, 100, 400)

    def test_success_leaves_the_poll_and_deadline_indexes(self, funded: Subject) -> None:
        task = new_task("s1", 1)
        held_create.hold([task], "h1", clock.now_ms() + 60_000)  # held: in a deadline lane
        task = self.charged(funded, task)[0]
        assert task.due_lane == task_store.shard_for("s1")
        assert funded.repos.tasks.transition(task, states.SUCCESS)
        stored = funded.repos.tasks.get("s1")
        assert (stored.progress, stored.next_poll_at, stored.due_at, stored.billing) == \
            ("100%", None, None, states.BILLING_CHARGED)
        assert int(stored.finish_ms) > 0

    def test_a_transition_can_move_the_task_to_another_channel(self, funded: Subject) -> None:
        task = self.charged(funded, new_task("m1", 1, channel_id=3))[0]
        assert funded.repos.tasks.transition(task, states.NOT_START, channel_id=9)
        assert (int(task.channel_id), task.lgc) == (9, "g#task#c#9")
        names = listing.counter_names_for_read("lgc", "g#task#c#9", "ALL")
        assert funded.repos.counters.read(names).total == 1

    def test_an_update_is_conditional_on_the_version(self, funded: Subject) -> None:
        self.charged(funded, new_task("u1", 1))
        mine, theirs = funded.repos.tasks.get("u1"), funded.repos.tasks.get("u1")
        assert funded.repos.tasks.update(mine, {"progress": "10%", "due_at": REMOVE})
        assert (mine.progress, int(mine.version), mine.due_at) == ("10%", 2, None)  # the winner holds the new item
        assert not funded.repos.tasks.update(theirs, {"progress": "20%"})
        assert (theirs.progress, int(theirs.version)) == ("0%", 1)
        stored = funded.repos.tasks.get("u1")
        assert (stored.progress, int(stored.version), stored.due_at) == ("10%", 2, None)

    def test_hold_until_is_won_by_one_caller(self, funded: Subject) -> None:
        self.charged(funded, new_task("h1", 1))
        mine, theirs = funded.repos.tasks.get("h1"), funded.repos.tasks.get("h1")
        assert funded.repos.tasks.hold_until(mine, 123_456, submit_attempts=2)
        assert (mine.next_poll_at, int(mine.submit_attempts), int(mine.version)) == (123_456, 2, 2)
        assert mine.poll_shard == task_store.shard_for("h1")
        assert not funded.repos.tasks.hold_until(theirs, 999)
        assert funded.repos.tasks.get("h1").next_poll_at == 123_456

    def test_owed_refunds_come_from_the_refund_lane_oldest_first(self, funded: Subject) -> None:
        tasks = self.charged(funded, new_task("o1", 1), new_task("o2", 2), new_task("o3", 3))
        try:
            for at, task in ((3_000, tasks[1]), (1_000, tasks[0]), (9_000, tasks[2])):
                clock.set_now(1_760_000_000_000 + at)
                assert funded.repos.tasks.transition(task, states.FAILURE, fail_reason="owed")
        finally:
            clock.set_now(None)
        due_by = 1_760_000_000_000 + 5_000
        assert funded.repos.tasks.owed_refunds(due_by, 10) == ["o1", "o2"]
        assert funded.repos.tasks.owed_refunds(due_by, 1) == ["o1"]
        assert funded.repos.ledger.refund("o1", 1)
        assert funded.repos.tasks.owed_refunds(due_by, 10) == ["o2"]

    # -------------------------------------------------------------- the poll path and the listing buckets
    def _due_in_one_shard(self, funded: Subject, prefix: str) -> tuple[str, list[tuple[int, str]]]:
        """Six charged tasks due at 100 ... 900: the first one's shard, and (next_poll_at, task_id) of its tasks."""
        tasks = self.charged(funded, *(new_task(f"{prefix}{i}", i, quota=10) for i in range(1, 7)))
        for at, task in zip((500, 100, 300, 900, 200, 700), tasks, strict=True):
            assert funded.repos.tasks.hold_until(task, at)
        shard = tasks[0].poll_shard
        return shard, sorted((int(t.next_poll_at), t.task_id) for t in tasks if t.poll_shard == shard)

    def test_due_for_poll_is_one_shard_soonest_first(self, funded: Subject) -> None:
        shard, mine = self._due_in_one_shard(funded, "p")
        due = funded.repos.tasks.due_for_poll(shard, 600, 10)
        assert [t.task_id for t in due] == [task_id for at, task_id in mine if at <= 600]
        # the tasks as stored (the index projects keys only: the items are read after it)
        assert [t.serialize() for t in due] == [funded.repos.tasks.get(t.task_id).serialize() for t in due]
        assert [t.task_id for t in funded.repos.tasks.due_for_poll(shard, 600, 1)] == [mine[0][1]]
        assert funded.repos.tasks.transition(funded.repos.tasks.get(mine[0][1]), states.SUCCESS)
        assert mine[0][1] not in [t.task_id for t in funded.repos.tasks.due_for_poll(shard, 10**13, 10)]

    def test_due_for_poll_goes_on_after_a_position(self, funded: Subject) -> None:
        shard, mine = self._due_in_one_shard(funded, "q")
        due = [(at, task_id) for at, task_id in mine if at <= 800]
        first = funded.repos.tasks.due_for_poll(shard, 800, 1)
        rest = funded.repos.tasks.due_for_poll(shard, 800, 10, after=(int(first[0].next_poll_at), first[0].task_id))
        assert [t.task_id for t in first + rest] == [task_id for _, task_id in due]
        assert funded.repos.tasks.due_for_poll(shard, 800, 10, after=due[-1]) == []

    def test_a_charge_counts_its_tasks_in_their_submit_hour(self, funded: Subject) -> None:
        tasks = self.charged(funded, new_task("b1", 1), new_task("b2", 2))
        hour = listing.bucket_of(int(tasks[0].submit_ms))
        names = listing.bucket_names_for_read("lu", f"u#{USER}#task", [hour - 1, hour, hour + 1])
        assert funded.repos.counters.read(names).total == 2
        admin = listing.bucket_names_for_read("lg", "g#task", [hour])
        assert funded.repos.counters.read(admin).total == 2

    # -------------------------------------------------------------- the rest
    def test_credit_and_audit(self, funded: Subject) -> None:
        assert funded.repos.ledger.credit(USER, 250, "top-up") == 1250
        assert funded.repos.ledger.audit(USER).credits == 1250
        with pytest.raises(NotFound):
            funded.repos.ledger.credit(USER + 1, 5)
        with pytest.raises(NotFound):
            funded.repos.ledger.audit(USER + 1)
        today = day_of(clock.now_ms())
        assert funded.repos.ledger.active_users([today, "1999-01-01"]) == {USER}
        assert funded.repos.ledger.active_users(["1999-01-01"]) == set()

    def test_allocated_ids_are_unique(self, subject: Subject) -> None:
        first = subject.repos.counters.allocate_ids("contract", 3)
        second = subject.repos.counters.allocate_ids("contract", 2)
        assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)

    def test_channels_by_id_and_type(self, subject: Subject) -> None:
        for cid, ctype, status in ((5, "suno", 1), (2, "suno", 2), (7, "midjourney", 1)):
            subject.seed.channel(Channel(id=cid, type=ctype, base_url="https://up.example", status=status))
        assert [int(c.id) for c in subject.repos.channels.of_type("suno")] == [2, 5]
        assert [int(c.id) for c in subject.repos.channels.enabled_of_type("suno")] == [5]
        assert subject.repos.channels.get(7).type == "midjourney"
        assert subject.repos.channels.get(8) is None

    def test_users_get_for_task_api_v1(self, funded: Subject) -> None:
        found: Any = funded.repos.users.get(USER)
        assert (int(found.id), found.username, int(found.quota)) == (USER, "carol", 1000)  # credited above
        assert funded.repos.users.get(USER + 1000) is None

    def test_credentials_by_hash(self, funded: Subject) -> None:
        found: Any = funded.repos.credentials.by_hash(KEY)
        assert (found.user_id, found.kind) == (USER, "key")
        assert funded.repos.credentials.by_hash("unknown") is None

    # -------------------------------------------------------------- video platform (store/videos.py)
    def test_a_settling_move_to_success_carries_the_difference_in_the_same_write(self, funded: Subject) -> None:
        more, less, same = self.charged(funded, new_task("v1", 1), new_task("v2", 2), new_task("v3", 3))
        stale = funded.repos.tasks.get("v1")  # a second poller's copy, read before the move
        assert funded.repos.tasks.succeed_and_settle(more, {"data": {"seconds": 8}}, 150)
        assert (more.status, int(more.quota), more.data, more.settled_ms is not None) == \
            (states.SUCCESS, 150, {"seconds": 8}, True)
        assert not funded.repos.tasks.succeed_and_settle(stale, None, 150)  # the racing poller: nothing written
        assert not funded.repos.tasks.succeed_and_settle(more, None, 170)  # finished: never moves or settles again
        assert funded.repos.tasks.succeed_and_settle(less, None, 40)
        assert funded.repos.tasks.succeed_and_settle(same, None, 100)  # nothing to settle: the plain move
        assert (same.status, int(same.quota), same.settled_ms) == (states.SUCCESS, 100, None)
        assert [int(funded.repos.tasks.get(t).quota) for t in ("v1", "v2", "v3")] == [150, 40, 100]
        assert self.balance(funded) == (1000 - 300 - 50 + 60, 300 + 50 - 60, 500 - 300 - 50 + 60)
        audit = funded.repos.ledger.audit(USER)
        assert (audit.charges, audit.refunds) == (350, 60)  # one settle# entry each: +50, -60
        assert funded.repos.counters.read(user_counter(states.SUCCESS)).total == 3

    def test_a_settlement_the_payer_cannot_cover_is_left_out_of_the_move(self, funded: Subject) -> None:
        task = self.charged(funded, new_task("w1", 1, quota=400))[0]
        stale = funded.repos.tasks.get("w1")
        assert funded.repos.tasks.succeed_and_settle(task, None, 400 + 101)  # the key has 100 left
        assert (task.status, int(task.quota), task.settled_ms) == (states.SUCCESS, 400, None)
        assert not funded.repos.tasks.succeed_and_settle(stale, None, 400 + 101)  # lost race, not "uncovered"
        assert self.balance(funded) == (600, 400, 100)
        assert funded.repos.counters.read(user_counter(states.SUCCESS)).total == 1

    def test_a_users_page_of_one_platform_in_both_orders_with_a_cursor(self, funded: Subject) -> None:
        tasks = [new_task(f"p{n}", n, quota=0) for n in range(1, 5)]
        other = task_store.build_task(task_id="q1", numeric_id=9, kind="task", platform="midjourney",
                                      user_id=USER, action="IMAGINE", quota=0, key_hash=KEY)
        self.charged(funded, *tasks, other)
        page = funded.repos.tasks.user_platform_page(USER, "task", "suno", after=None, limit=3, newest_first=True)
        assert [t.task_id for t in page] == ["p4", "p3", "p2"]
        rest = funded.repos.tasks.user_platform_page(USER, "task", "suno", after=page[-1], limit=3,
                                                     newest_first=True)
        assert [t.task_id for t in rest] == ["p1"]
        oldest = funded.repos.tasks.user_platform_page(USER, "task", "suno", after=tasks[0], limit=2,
                                                       newest_first=False)
        assert [t.task_id for t in oldest] == ["p2", "p3"]
        assert funded.repos.tasks.user_platform_page(USER + 1, "task", "suno", after=None, limit=5,
                                                     newest_first=True) == []

    # -------------------------------------------------------------- relay submits held (store/held_create.py)
    def held(self, s: Subject, task_id: str, numeric_id: int, quota: int = 100) -> Task:
        from taskcenter.store import held_create

        task = new_task(task_id, numeric_id, quota=quota)
        held_create.hold([task], held_create.SUBMIT_HOLD, clock.now_ms() + 60_000)
        return self.charged(s, task)[0]

    def test_withdrawing_a_held_submit_leaves_no_entry_and_every_balance_as_before(self, funded: Subject) -> None:
        user_before = funded.repos.users.get(USER)
        task = self.held(funded, "h1", 1)
        assert self.balance(funded) == (900, 100, 400)
        assert funded.repos.ledger.withdraw_submit(task)
        assert funded.repos.tasks.get("h1") is None
        assert self.balance(funded) == (1000, 0, 500)
        audit = funded.repos.ledger.audit(USER)
        assert (audit.charges, audit.refunds) == (0, 0)  # the charge entry is gone, no refund entry written
        assert int(funded.repos.users.get(USER).request_count) == int(user_before.request_count)
        assert funded.repos.counters.read(user_counter("ALL")).total == 0
        assert funded.repos.counters.read(user_counter(states.NOT_START)).total == 0
        assert not funded.repos.ledger.withdraw_submit(task)  # nothing left to withdraw
        free = self.held(funded, "h0", 2, quota=0)  # a free action (INPAINT): no ledger entry to take back
        assert funded.repos.ledger.withdraw_submit(free) and self.balance(funded) == (1000, 0, 500)

    def test_a_task_no_longer_held_is_not_withdrawn(self, funded: Subject) -> None:
        moved = self.held(funded, "h2", 2)
        assert funded.repos.tasks.transition(moved, states.FAILURE, fail_reason="timeout")  # the sweeper won
        assert not funded.repos.ledger.withdraw_submit(moved)
        assert funded.repos.tasks.get("h2").status == states.FAILURE
        assert funded.repos.ledger.refund("h2", 1) and self.balance(funded) == (1000, 0, 500)
        unheld = self.charged(funded, new_task("h3", 3))[0]  # a task that was never held (v1, video)
        assert not funded.repos.ledger.withdraw_submit(unheld)
        assert funded.repos.tasks.get("h3") is not None and self.balance(funded) == (900, 100, 400)
