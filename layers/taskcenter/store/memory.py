"""In-memory repositories (store/repositories.py) for unit tests of services: no AWS, no moto, no network.

They keep the semantics services rely on, and tests/repository_contract.py checks them against the
PynamoDB ones with one suite: a transition or update is conditional on the stored status and version (a
lost race writes nothing and answers False); a charge writes every task and moves every balance, or
nothing; a refund of an attempt happens once (its ledger entry is unique), a second answers False;
quota never goes below zero; the listing counters move with every create and status move (at once: the
twin of the tasks stream's consumer once it has read the write, store/counter_stream.py).

What they do not model: DynamoDB's transaction and item-size limits beyond the per-item check (money and
transaction tests stay on moto), throttling, and eventually consistent reads (every read here is
consistent). Items are kept serialized, so a caller's copy never aliases the stored one.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from taskcenter import clock
from taskcenter.domain import channel_status, states
from taskcenter.domain import listing_plan as listing
from taskcenter.domain.errors import BadInput, Conflict, Forbidden, InsufficientQuota, NotFound
from taskcenter.domain.listing_indexes import final_key
from taskcenter.observability import metrics
from taskcenter.store import item_size, memory_held, memory_videos
from taskcenter.store import tasks as task_store
from taskcenter.store.counters import ScopeCount
from taskcenter.store.memory_users import MemoryCredentials, MemoryUsers
from taskcenter.store.models import REFUND_LANE, Channel, Credential, LedgerEntry, Task, User
from taskcenter.store.money import AuditResult, Payer, day_of
from taskcenter.store.repositories import REMOVE, Changes, Repositories

Raw = dict[str, dict[str, Any]]


class MemoryStore:
    """The tables, as dicts of serialized items. One lock: each repository call is atomic, as a
    DynamoDB conditional write or transaction is."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tasks: dict[str, Raw] = {}
        self.users: dict[int, Raw] = {}
        self.credentials: dict[str, Raw] = {}
        self.channels: dict[int, Raw] = {}
        self.ledger: dict[tuple[int, str], Raw] = {}
        self.counters: dict[str, tuple[int, int]] = {}  # name -> (value, changes)

    # Seeding (what admin tools and the accounts code write in production).
    def put_user(self, user: User) -> None:
        self.users[int(user.id)] = user.serialize()

    def put_credential(self, credential: Credential) -> None:
        self.credentials[credential.token_hash] = credential.serialize()

    def put_channel(self, channel: Channel) -> None:
        self.channels[int(channel.id)] = channel.serialize()

    def put_task(self, task: Task) -> None:
        self.tasks[task.task_id] = task.serialize()

    def user(self, user_id: int) -> User | None:
        raw = self.users.get(int(user_id))
        return User.from_raw_data(raw) if raw is not None else None

    def credential(self, token_hash: str) -> Credential | None:
        raw = self.credentials.get(token_hash)
        return Credential.from_raw_data(raw) if raw is not None else None

    def add_counters(self, deltas: dict[str, int]) -> None:
        for name, delta in deltas.items():
            if delta:
                value, changes = self.counters.get(name, (0, 0))
                self.counters[name] = (value + delta, changes + abs(delta))

    def repositories(self) -> Repositories:
        from taskcenter.store.webhook_memory import MemoryWebhooks  # docs/webhooks.md

        if getattr(self, "webhooks", None) is None:
            self.webhooks = MemoryWebhooks()
        return Repositories(tasks=MemoryTasks(self), ledger=MemoryLedger(self), counters=MemoryCounters(self),
                            channels=MemoryChannels(self), credentials=MemoryCredentials(self),
                            users=MemoryUsers(self), webhooks=self.webhooks)


def apply_changes(task: Task, changes: Changes) -> None:
    for name, value in changes.items():
        setattr(task, name, None if value is REMOVE else value)


def transition_changes(task: Task, new_status: str, fail_reason: str, now: int) -> dict[str, Any]:
    """What store.tasks.transition writes besides the caller's changes and the channel move."""
    facts = task_store.listing_facts(task)
    out: dict[str, Any] = {"status": new_status, "version": int(task.version) + 1, "updated_at": now // 1000,
                           "ls": listing.status_key(new_status, facts.submit_ms, facts.numeric_id)}
    final = final_key(new_status, listing.time_key(facts.submit_ms, facts.numeric_id))
    if final is not None or task.status in states.TERMINAL:
        out["lf"] = REMOVE if final is None else final  # as store.tasks.transition
    done = {"progress": "100%", "finish_ms": now, "next_poll_at": REMOVE, "poll_shard": REMOVE,
            "due_at": REMOVE, "due_lane": REMOVE}
    if new_status == states.FAILURE:
        out.update(done, fail_reason=(fail_reason or task.fail_reason or "failed")[:1000])
        if task.billing == states.BILLING_CHARGED:
            out.update(billing=states.BILLING_REFUND_PENDING, refund_due_ms=now, due_lane=REFUND_LANE, due_at=now)
    elif new_status == states.SUCCESS:
        out.update(done)
    return out


class MemoryTasks:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def get(self, task_id: str) -> Task | None:
        raw = self.store.tasks.get(task_id)
        return Task.from_raw_data(raw) if raw is not None else None

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        return [t for t in (self.get(i) for i in dict.fromkeys(task_ids)) if t is not None]

    def refresh(self, task: Task) -> None:
        raw = self.store.tasks.get(task.task_id)
        if raw is None:
            raise Task.DoesNotExist()  # as Model.refresh does
        task.deserialize(raw)

    def _unchanged(self, task: Task) -> Task | None:
        """The stored task, if its status and version are still the ones `task` holds (the condition)."""
        stored = self.get(task.task_id)
        if stored is None or stored.status != task.status or int(stored.version) != int(task.version):
            return None
        return stored

    def transition(self, task: Task, new_status: str, changes: Changes | None = None, *, fail_reason: str = "",
                   channel_id: int | None = None) -> bool:
        with self.store.lock:
            stored = self._unchanged(task)
            if stored is None:
                return False
            now = clock.now_ms()
            facts = task_store.listing_facts(task)
            new_facts = replace(facts, status=new_status,
                                channel_id=facts.channel_id if channel_id is None else int(channel_id))
            apply_changes(stored, dict(changes or {}))
            if new_facts.channel_id != facts.channel_id:
                scopes = listing.scope_values(new_facts)
                apply_changes(stored, {"channel_id": new_facts.channel_id,
                                       **{attr: scopes.get(attr, REMOVE) for attr in listing.CHANNEL_SCOPES}})
            apply_changes(stored, transition_changes(task, new_status, fail_reason, now))
            self.store.put_task(stored)
            self.store.add_counters(listing.counter_deltas_between(facts, new_facts))
        self.refresh(task)
        if new_status in states.TERMINAL:
            _after_terminal(task)
        return True

    def update(self, task: Task, changes: Changes) -> bool:
        with self.store.lock:
            stored = self._unchanged(task)
            if stored is None:
                return False
            apply_changes(stored, {**changes, "version": int(task.version) + 1, "updated_at": clock.now_s()})
            self.store.put_task(stored)
        self.refresh(task)  # as PynamoDB's Model.update sets the returned item on the instance
        return True

    def owed_refunds(self, due_by_ms: int, limit: int) -> list[str]:
        with self.store.lock:
            lane = [Task.from_raw_data(raw) for raw in self.store.tasks.values()]
        owed = sorted((int(t.due_at), t.task_id) for t in lane if t.due_lane == REFUND_LANE
                      and t.due_at is not None and int(t.due_at) <= due_by_ms)
        return [task_id for _, task_id in owed[:limit]]

    def past_deadline(self, shard: str, due_by_ms: int, limit: int) -> list[str]:
        with self.store.lock:
            lane = [Task.from_raw_data(raw) for raw in self.store.tasks.values()]
        due = sorted((int(t.due_at), t.task_id) for t in lane if t.due_lane == shard
                     and t.due_at is not None and int(t.due_at) <= due_by_ms)
        return [task_id for _, task_id in due[:limit]]

    def hold_until(self, task: Task, at_ms: int, *, submit_attempts: int | None = None) -> bool:
        if not self.update(task, task_store.hold_changes(task.task_id, at_ms, submit_attempts)):
            return False
        self.refresh(task)
        return True

    # -- the poll path
    def due_for_poll(self, shard: str, now_ms: int, limit: int, *, after: tuple[int, str] | None = None) -> list[Task]:
        # As store/poll_reads.py: the index's keys (this twin's index never lags), then the items themselves.
        with self.store.lock:
            rows = [Task.from_raw_data(raw) for raw in self.store.tasks.values()]
        keys = sorted((int(t.next_poll_at), t.task_id) for t in rows if t.poll_shard == shard
                      and t.next_poll_at is not None and int(t.next_poll_at) <= now_ms
                      and (after is None or (int(t.next_poll_at), t.task_id) > after))
        return self.get_many(task_id for _, task_id in keys[:limit])

    # video platform (store/memory_videos.py)
    def succeed_and_settle(self, task: Task, changes: Changes | None, charge: int) -> bool:
        return memory_videos.succeed_and_settle(self, task, changes, charge)

    def user_platform_page(self, user_id: int, kind: str, platform: str, *, after: Task | None, limit: int,
                           newest_first: bool) -> list[Task]:
        return memory_videos.user_platform_page(self.store, user_id, kind, platform, after=after, limit=limit,
                                                newest_first=newest_first)


def _after_terminal(task: Task) -> None:
    """As store.tasks.transition does for its winner: count the move (the platform's terminal hook is run by
    the lifecycle code that called, services/core/lifecycle.move: storage never calls upward)."""
    metrics.add_metric(name="TasksSucceeded" if task.status == states.SUCCESS else "TasksFailed",
                       unit="Count", value=1)


class MemoryLedger:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def _entry(self, user_id: int, entry: str, kind: str, amount: int, **fields: Any) -> None:
        at = clock.now_ms()
        row = LedgerEntry(user_id=user_id, entry=entry, kind=kind, amount=amount, at_ms=at, day=day_of(at),
                          **fields)
        self.store.ledger[(int(user_id), entry)] = row.serialize()

    def _check_payer(self, payer: Payer, total: int) -> tuple[User, Credential | None]:
        user = self.store.user(payer.user_id)
        if user is None or int(user.status) != 1:
            raise Forbidden("user is disabled (or no longer exists)")
        if total > 0 and int(user.quota) < total:
            raise InsufficientQuota("user quota is not enough", code="insufficient_user_quota")
        key = self.store.credential(payer.key_hash) if payer.key_hash else None
        if payer.key_hash and (key is None or int(key.status) != 1 or (
                total > 0 and not key.unlimited and int(key.remaining_quota) < total)):
            raise InsufficientQuota("token quota is not enough or token disabled", code="insufficient_token_quota")
        return user, key

    def charge(self, payer: Payer, tasks: list[Task]) -> None:
        for t in tasks:
            item_size.require_fits(t)
        total = sum(int(t.quota) for t in tasks)
        if total < 0:
            raise BadInput("negative charge")
        with self.store.lock:
            user, key = self._check_payer(payer, total)
            taken = [t.task_id for t in tasks if t.task_id in self.store.tasks
                     or (payer.user_id, f"charge#{t.task_id}#{int(t.attempt)}") in self.store.ledger]
            if taken or len({t.task_id for t in tasks}) != len(tasks):
                raise Conflict("task already exists or changed concurrently")
            user.quota, user.used_quota = int(user.quota) - total, int(user.used_quota) + total
            user.request_count = int(user.request_count) + len(tasks)
            self.store.put_user(user)
            if key is not None:
                key.remaining_quota, key.used_quota = int(key.remaining_quota) - total, int(key.used_quota) + total
                self.store.put_credential(key)
            for t in tasks:
                if int(t.quota) > 0:
                    self._entry(payer.user_id, f"charge#{t.task_id}#{int(t.attempt)}", "charge", int(t.quota),
                                task_id=t.task_id, attempt=int(t.attempt), key_hash=payer.key_hash)
                self.store.put_task(t)
            self.store.add_counters(listing.merge_deltas(
                *(listing.counter_deltas_for_create(task_store.listing_facts(t)) for t in tasks)))

    def refund(self, task_id: str, attempt: int | None = None) -> bool:
        with self.store.lock:
            task = MemoryTasks(self.store).get(task_id)
            if task is None:
                return False
            attempt = int(task.attempt) if attempt is None else attempt
            entry = f"refund#{task_id}#{attempt}"
            if int(task.attempt) != attempt or task.billing != states.BILLING_REFUND_PENDING \
                    or (int(task.user_id), entry) in self.store.ledger:
                return False
            amount = int(task.quota)
            user = self.store.user(task.user_id)
            key = self.store.credential(task.key_hash) if task.key_hash else None
            if amount > 0 and (user is None or (task.key_hash and key is None)):
                return False  # the transaction's condition: the user (and key) still exist
            self._entry(int(task.user_id), entry, "refund", amount, task_id=task_id, attempt=attempt,
                        key_hash=task.key_hash)
            apply_changes(task, {"billing": states.BILLING_REFUNDED, "refund_due_ms": REMOVE, "due_lane": REMOVE,
                                 "due_at": REMOVE, "updated_at": clock.now_s()})
            self.store.put_task(task)
            if amount > 0 and user is not None:
                user.quota, user.used_quota = int(user.quota) + amount, int(user.used_quota) - amount
                self.store.put_user(user)
                if key is not None:
                    key.remaining_quota = int(key.remaining_quota) + amount
                    key.used_quota = int(key.used_quota) - amount
                    self.store.put_credential(key)
        return True

    def credit(self, user_id: int, amount: int, note: str = "") -> int:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise BadInput("top-up amount must be a positive integer", field="amount")
        with self.store.lock:
            user = self.store.user(user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            self._entry(user_id, f"credit#{clock.now_ms():013d}#{secrets.token_hex(4)}", "credit", amount,
                        note=note[:200])
            user.quota = int(user.quota) + amount
            self.store.put_user(user)
            return int(user.quota)

    def audit(self, user_id: int) -> AuditResult:
        with self.store.lock:
            user = self.store.user(user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            sums = {"credit": 0, "charge": 0, "refund": 0}
            for (owner, _), raw in self.store.ledger.items():
                if owner == int(user_id):
                    entry = LedgerEntry.from_raw_data(raw)
                    sums[entry.kind] = sums.get(entry.kind, 0) + int(entry.amount)
        return AuditResult(int(user_id), int(user.quota), int(user.used_quota), sums["credit"], sums["charge"],
                           sums["refund"])

    def withdraw_submit(self, task: Task) -> bool:  # store/memory_held.py
        return memory_held.withdraw_submit(self.store, task)

    def active_users(self, days: Iterable[str]) -> set[int]:
        wanted = set(days)
        with self.store.lock:
            rows = [LedgerEntry.from_raw_data(raw) for raw in self.store.ledger.values()]
        return {int(row.user_id) for row in rows if row.day in wanted}


class MemoryCounters:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def allocate_ids(self, sequence: str, count: int = 1) -> list[int]:
        if count < 1:
            raise ValueError("count must be >= 1")
        name = f"seq#{sequence}"
        with self.store.lock:
            last = self.store.counters.get(name, (0, 0))[0] + count
            self.store.counters[name] = (last, 0)
        return list(range(last - count + 1, last + 1))

    def read(self, names: list[str]) -> ScopeCount:
        with self.store.lock:
            rows = [self.store.counters.get(n, (0, 0)) for n in dict.fromkeys(names)]
        return ScopeCount(sum(v for v, _ in rows), sum(c for _, c in rows))

    def next_id(self, sequence: str) -> int:
        return self.allocate_ids(sequence, 1)[0]


class MemoryChannels:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def get(self, channel_id: int) -> Channel | None:
        raw = self.store.channels.get(int(channel_id))
        return Channel.from_raw_data(raw) if raw is not None else None

    def of_type(self, channel_type: str) -> list[Channel]:
        rows = [Channel.from_raw_data(raw) for _, raw in sorted(self.store.channels.items())]
        return [ch for ch in rows if ch.type == channel_type]  # by_type index order: by id

    def enabled_of_type(self, channel_type: str) -> list[Channel]:
        return [ch for ch in self.of_type(channel_type) if channel_status.takes_new_tasks(ch)]

    def add(self, fields: Mapping[str, Any]) -> Channel | None:
        channel = Channel(**fields)
        item_size.require_fits(channel, "channel")
        with self.store.lock:
            if int(channel.id) in self.store.channels:
                return None
            self.store.put_channel(channel)
        return channel

    def update(self, channel: Channel, changes: Changes, *, plaintext: str | None = None) -> bool:
        with self.store.lock:
            stored = self.get(channel.id)
            if stored is None or (plaintext is not None and stored.legacy_secret != plaintext):
                return False
            apply_changes(stored, changes)
            self.store.put_channel(stored)
        channel.deserialize(self.store.channels[int(channel.id)])
        return True

    def drop_plaintext_secret(self, channel: Channel, plaintext: str, changes: Changes) -> bool:
        return self.update(channel, {**changes, "legacy_secret": REMOVE}, plaintext=plaintext)
