"""The PynamoDB repositories: thin wrappers over today's store functions (store/tasks.py, store/money.py,
store/counters.py). The logic stays where it was; these only turn `{attribute: value}` changes into
PynamoDB update actions. Interfaces and semantics: store/repositories.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist, PutError

from taskcenter.domain import channel_status
from taskcenter.store import counters, held_create, item_size, money, poll_reads, videos
from taskcenter.store import tasks as task_store
from taskcenter.store.counters import ScopeCount
from taskcenter.store.db import conditional_update
from taskcenter.store.models import REFUND_LANE, Channel, Credential, Task
from taskcenter.store.money import AuditResult, Payer
from taskcenter.store.pynamo_users import PynamoUsers, model_actions
from taskcenter.store.repository_types import REMOVE, Changes, Repositories

T = TypeVar("T", Channel, Credential)


def task_actions(changes: Changes | None) -> list:
    """`{attribute: value}` as PynamoDB update actions (REMOVE: remove the attribute)."""
    actions = []
    for name, value in (changes or {}).items():
        attribute = getattr(Task, name)
        actions.append(attribute.remove() if value is REMOVE else attribute.set(value))
    return actions


class PynamoTasks:
    def get(self, task_id: str) -> Task | None:
        return task_store.get(task_id)

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        return task_store.get_many(task_ids)

    def refresh(self, task: Task) -> None:
        task.refresh(consistent_read=True)

    def transition(self, task: Task, new_status: str, changes: Changes | None = None, *, fail_reason: str = "",
                   channel_id: int | None = None) -> bool:
        return task_store.transition(task, new_status, task_actions(changes), fail_reason=fail_reason,
                                     channel_id=channel_id)

    def update(self, task: Task, changes: Changes) -> bool:
        return task_store.update_in_place(task, task_actions(changes))

    def owed_refunds(self, due_by_ms: int, limit: int) -> list[str]:
        return [t.task_id for t in Task.due.query(REFUND_LANE, Task.due_at <= due_by_ms, limit=limit)]

    def past_deadline(self, shard: str, due_by_ms: int, limit: int) -> list[str]:
        return [t.task_id for t in Task.due.query(shard, Task.due_at <= due_by_ms, limit=limit)]

    def hold_until(self, task: Task, at_ms: int, *, submit_attempts: int | None = None) -> bool:
        if not self.update(task, task_store.hold_changes(task.task_id, at_ms, submit_attempts)):
            return False
        self.refresh(task)
        return True

    # -- the poll path
    def due_for_poll(self, shard: str, now_ms: int, limit: int, *, after: tuple[int, str] | None = None) -> list[Task]:
        return poll_reads.due_for_poll(shard, now_ms, limit, after=after)  # the index's keys, then the items

    # video platform (store/videos.py)
    def succeed_and_settle(self, task: Task, changes: Changes | None, charge: int) -> bool:
        return videos.succeed_and_settle(task, task_actions(changes), charge)

    def user_platform_page(self, user_id: int, kind: str, platform: str, *, after: Task | None, limit: int,
                           newest_first: bool) -> list[Task]:
        return videos.user_platform_page(user_id, kind, platform, after=after, limit=limit,
                                         newest_first=newest_first)


class PynamoLedger:
    def charge(self, payer: Payer, tasks: list[Task]) -> None:
        task_store.create_charged(payer, tasks)

    def refund(self, task_id: str, attempt: int | None = None) -> bool:
        return money.refund_task(task_id, attempt)

    def credit(self, user_id: int, amount: int, note: str = "") -> int:
        return money.credit_user(user_id, amount, note)

    def audit(self, user_id: int) -> AuditResult:
        return money.audit_user(user_id)

    def active_users(self, days: Iterable[str]) -> set[int]:
        return money.users_with_ledger_activity(days)

    # relay submits held while the client waits
    def withdraw_submit(self, task: Task) -> bool:
        return held_create.withdraw_submit(task)


class PynamoCounters:
    def allocate_ids(self, sequence: str, count: int = 1) -> list[int]:
        return counters.allocate_ids(sequence, count)

    def read(self, names: list[str]) -> ScopeCount:
        return counters.read_scope(names)

    def next_id(self, sequence: str) -> int:
        return counters.next_id(sequence)


class PynamoChannels:
    def get(self, channel_id: int) -> Channel | None:
        try:
            return Channel.get(channel_id, consistent_read=True)
        except DoesNotExist:
            return None

    def of_type(self, channel_type: str) -> list[Channel]:
        return list(Channel.by_type.query(channel_type))

    def enabled_of_type(self, channel_type: str) -> list[Channel]:
        return [ch for ch in self.of_type(channel_type) if channel_status.takes_new_tasks(ch)]

    def add(self, fields: Mapping[str, Any]) -> Channel | None:
        channel = Channel(**fields)
        item_size.require_fits(channel, "channel")  # a 413, not DynamoDB's ValidationException (a 500)
        return _save_new(channel, Channel.id.does_not_exist())

    def update(self, channel: Channel, changes: Changes) -> bool:
        return conditional_update(channel, model_actions(Channel, changes), Channel.id.exists())

    def drop_plaintext_secret(self, channel: Channel, plaintext: str, changes: Changes) -> bool:
        return conditional_update(channel, model_actions(Channel, {**changes, "legacy_secret": REMOVE}),
                                  Channel.legacy_secret == plaintext)


class PynamoCredentials:
    def by_hash(self, token_hash: str) -> Credential | None:
        try:
            return Credential.get(token_hash, consistent_read=True)
        except DoesNotExist:
            return None

    def of_user(self, user_id: int) -> list[Credential]:
        return [Credential.get(ref.token_hash, consistent_read=True) for ref in Credential.by_user.query(int(user_id))]

    def add(self, fields: Mapping[str, Any]) -> Credential | None:
        return _save_new(Credential(**fields), Credential.token_hash.does_not_exist())

    def update(self, credential: Credential, changes: Changes) -> None:
        credential.update(actions=model_actions(Credential, changes))


def _save_new(item: T, condition: object) -> T | None:
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return item


@cache
def default() -> Repositories:
    """One set per process: the wrappers hold no state (table names resolve lazily, per call)."""
    return Repositories(tasks=PynamoTasks(), ledger=PynamoLedger(), counters=PynamoCounters(),
                        channels=PynamoChannels(), credentials=PynamoCredentials(), users=PynamoUsers(),
                        webhooks=_webhooks())


def _webhooks() -> object:
    from taskcenter.store.webhook_repository import PynamoWebhooks  # its own module (docs/webhooks.md)

    return PynamoWebhooks()
