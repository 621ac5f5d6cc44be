"""Task repository: creation inside the charge transaction, conditional transitions, lookups.

Every status change goes through `transition`: one conditional UpdateItem on the expected status and
version (two racing workers: one winner), or one TransactWriteItems when other items must change with it
(a caller's `extra` items). The listing counters are not in these writes: the tasks table's stream moves
them (store/counter_stream.py, docs/listing.md "total").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from taskcenter import clock, settings
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.domain.errors import TooLarge
from taskcenter.domain.listing_indexes import final_key
from taskcenter.observability import metrics
from taskcenter.store import item_size
from taskcenter.store.db import conditional_transaction, conditional_update
from taskcenter.store.models import REFUND_LANE, Task
from taskcenter.store.money import (
    Charge,
    Payer,
    TxHook,
    charge_items,
    charge_submission,
    mark_failed_actions,
)


def listing_facts(task: Task, status: str | None = None) -> listing.ListingFacts:
    status = status or task.status
    return listing.ListingFacts(
        kind=task.kind,
        user_id=int(task.user_id),
        platform=task.platform,
        action=task.action,
        status=status,
        channel_id=int(task.channel_id or 0),
        submit_ms=int(task.submit_ms),
        numeric_id=int(task.id),
        serial=task.serial or "",
        held=task.create_hold == states.SUBMIT_HOLD and status == states.NOT_START,
    )


def set_listing_attributes(task: Task) -> None:
    attrs = listing.index_attributes(listing_facts(task))
    for attr, value in attrs.items():
        setattr(task, attr, value)
    if "ls" not in attrs:
        task.ls = None


def shard_for(task_id: str) -> str:
    return f"s{listing.shard_of(task_id, settings.get().poll_shards)}"


def hold_changes(task_id: str, at_ms: int, submit_attempts: int | None = None) -> dict[str, object]:
    """What holding a task until `at_ms` writes (repositories' `hold_until`): due then, in its poll shard."""
    changes: dict[str, object] = {"poll_shard": shard_for(task_id), "next_poll_at": at_ms}
    if submit_attempts is not None:
        changes["submit_attempts"] = submit_attempts
    return changes


def schedule_poll(task: Task, at_ms: int) -> None:
    """Put an unsaved task into the sparse poll index (used at creation)."""
    task.poll_shard = shard_for(task.task_id)
    task.next_poll_at = at_ms


def deadline_after(start_ms: int) -> int:
    return start_ms + settings.get().task_timeout_seconds * 1000


def set_deadline(task: Task) -> None:
    """Give an unsaved open task its deadline (`due_at`: the limit counts from when it may start), out of the
    `due` index's lanes: a task that is not held is in the poll index, whose dispatcher reads it every minute
    and checks the deadline there (docs/engine.md, "Timeouts"); a hold puts it in a lane (store/held_create.py)."""
    task.due_lane = None
    task.due_at = deadline_after(max(int(task.submit_ms), int(task.scheduled_ms or 0)))


def build_task(
    *,
    task_id: str,
    numeric_id: int,
    kind: str,
    platform: str,
    user_id: int,
    action: str,
    status: str = states.NOT_START,
    channel_id: int = 0,
    quota: int = 0,
    model_name: str = "",
    group: str = "default",
    key_hash: str = "",
    properties: dict[str, Any] | None = None,
    **fields: Any,
) -> Task:
    """A new, unsaved task with its listing keys and, if open, its deadline set (`set_deadline`)."""
    now = clock.now_ms()
    task = Task(
        task_id=task_id,
        id=numeric_id,
        kind=kind,
        platform=platform,
        user_id=user_id,
        action=action,
        status=status,
        channel_id=channel_id,
        submit_ms=fields.pop("submit_ms", now),
        created_at=now // 1000,
        updated_at=now // 1000,
        quota=quota,
        model_name=model_name,
        group=group,
        key_hash=key_hash,
        billing=states.BILLING_CHARGED if quota > 0 else states.BILLING_FREE,
        properties=properties or {},
        data={},
        **fields,
    )
    if status in states.TERMINAL:
        task.progress = "100%"
        task.finish_ms = now
    else:
        set_deadline(task)
    set_listing_attributes(task)
    return task


def _charge_parts(tasks: list[Task]) -> tuple[list[Charge], Any]:
    charges = [Charge(t.task_id, int(t.attempt), int(t.quota)) for t in tasks]

    def write(tx: TransactWrite) -> None:
        # the listing counters follow from the stream (store/counter_stream.py), not from this transaction
        for t in tasks:
            tx.save(t, condition=Task.task_id.does_not_exist())

    return charges, write


def create_charged(payer: Payer, tasks: list[Task]) -> None:
    """Charge for and write new tasks in one transaction (each task's `quota` is its price)."""
    for t in tasks:
        item_size.require_fits(t)  # a 413 before the transaction, never DynamoDB's ValidationException (a 500)
    try:
        charge_submission(payer, *_charge_parts(tasks))
    except TransactWriteError as error:
        # The backstop for a size the estimate above missed (moto counts slightly differently): still a 413.
        if error.cause_response_code == "ValidationException" and "size" in (error.cause_response_message or ""):
            raise TooLarge("the task is too large to store (DynamoDB refused the item size)") from error
        raise


def create_charged_items(payer: Payer, tasks: list[Task]) -> list[dict]:
    """The items create_charged(payer, tasks) would send, built and not sent (chunking counts them)."""
    return charge_items(payer, *_charge_parts(tasks))


def get(task_id: str, *, consistent: bool = True) -> Task | None:
    try:
        return Task.get(task_id, consistent_read=consistent)
    except DoesNotExist:
        return None


def get_many(task_ids: Iterable[str]) -> list[Task]:
    keys = list(dict.fromkeys(task_ids))
    if not keys:
        return []
    return list(Task.batch_get(keys, consistent_read=True))


CHANNELS = listing.CHANNEL_SCOPES


def _status_key_actions(facts: listing.ListingFacts, old_status: str, new_status: str) -> list:
    """The status indexes' keys: `ls` at every move; `lf` (the terminal-status indexes) only when the task
    finishes, removed when it leaves a terminal status (domain/listing_indexes.py)."""
    acts = [Task.ls.set(listing.status_key(new_status, facts.submit_ms, facts.numeric_id))]
    final = final_key(new_status, listing.time_key(facts.submit_ms, facts.numeric_id))
    if final is not None:
        return [*acts, Task.lf.set(final)]
    return [*acts, Task.lf.remove()] if old_status in states.TERMINAL else acts


def transition(task: Task, new_status: str, actions: list | None = None, *, fail_reason: str = "",
               channel_id: int | None = None, extra: Sequence[TxHook] = ()) -> bool:
    """Move `task` from its current status/version to `new_status`.

    One conditional UpdateItem returning the written item (ALL_NEW), unless `extra` adds other items that
    must change with it (e.g. a settlement): then one TransactWriteItems (twice the write units per item).
    Returns True if this call won, False if the task had already moved on (status or version changed).
    On True, `task` holds the written item (status, version, billing) so the caller can act on it.
    A move to FAILURE of a charged attempt marks it refund_pending in the same write.
    `channel_id` moves the task to another channel (failover): its channel listing key and counters follow.
    The same status is allowed when the channel changes (a resubmission elsewhere).
    `extra` adds items to the same transaction (a video's settlement, store/videos.py): all are written with
    the move or none is; a failed condition of any of them reads as a lost move (False).
    """
    now = clock.now_ms()
    old_status, old_version = task.status, int(task.version)
    facts = listing_facts(task)
    new_facts = replace(facts, status=new_status,
                        channel_id=facts.channel_id if channel_id is None else int(channel_id))
    acts = list(actions or [])
    acts += [
        Task.status.set(new_status),
        Task.version.set(old_version + 1),
        Task.updated_at.set(now // 1000),
        *_status_key_actions(facts, old_status, new_status),
    ]
    if new_facts.channel_id != facts.channel_id:
        scopes = listing.scope_values(new_facts)
        acts += [Task.channel_id.set(new_facts.channel_id)]
        acts += [getattr(Task, a).set(scopes[a]) if a in scopes else getattr(Task, a).remove() for a in CHANNELS]
    if new_status == states.FAILURE:
        acts += mark_failed_actions(fail_reason or task.fail_reason or "failed", now_ms=now)
        if task.billing == states.BILLING_CHARGED:
            # owed from now: the reconciler finds it in the `due` index's refund lane if the message is lost
            acts += [Task.billing.set(states.BILLING_REFUND_PENDING), Task.refund_due_ms.set(now),
                     Task.due_lane.set(REFUND_LANE), Task.due_at.set(now)]
    elif new_status == states.SUCCESS:
        acts += [Task.progress.set("100%"), Task.finish_ms.set(now), Task.next_poll_at.remove(),
                 Task.poll_shard.remove(), Task.due_at.remove(), Task.due_lane.remove()]
    if not _write_move(task, _dedupe_actions(acts), (Task.status == old_status) & (Task.version == old_version),
                       extra):
        return False
    if new_status in states.TERMINAL:
        # counted here, by the winner of the move only, whatever path made it (engine, submission, stop);
        # the platform's terminal hook is the caller's (services/core/lifecycle.py: storage never calls up)
        metrics.add_metric(name="TasksSucceeded" if new_status == states.SUCCESS else "TasksFailed",
                           unit="Count", value=1)
    return True


def _write_move(task: Task, acts: list, condition: Any, extra: Sequence[TxHook]) -> bool:
    """The move's one write: an UpdateItem (ALL_NEW, so `task` is the item written, no read back), or a
    transaction with the `extra` items (then a consistent read back). False: the condition failed."""
    if extra:
        def write_transition(tx: TransactWrite) -> None:
            tx.update(Task(task_id=task.task_id), actions=acts, condition=condition)
            for hook in extra:
                hook(tx)

        if not conditional_transaction(write_transition):
            return False
        task.refresh(consistent_read=True)
        return True
    return conditional_update(task, acts, condition)


def update_in_place(task: Task, actions: list) -> bool:
    """A change that keeps the status (progress, data, next poll): one conditional UpdateItem on the version."""
    old_version = int(task.version)
    acts = _dedupe_actions(list(actions) + [Task.version.set(old_version + 1),
                                            Task.updated_at.set(clock.now_s())])
    return conditional_update(task, acts, (Task.version == old_version) & (Task.status == task.status))


def _dedupe_actions(actions: list) -> list:
    """Keep the last action per attribute path (DynamoDB rejects two actions on one path)."""
    seen: dict[str, Any] = {}
    for action in actions:
        path = str(action.values[0]) if getattr(action, "values", None) else repr(action)
        seen[path] = action
    return list(seen.values())
