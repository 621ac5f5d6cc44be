"""Creates too large for one transaction (Task API v1 fan-outs, up to 1,000 tasks): how they are cut into
transactions, held until all of them committed, then released, or withdrawn. docs/task-api-v1.md, "Create".

- `split`: consecutive runs of the tasks, each the largest that fits one charge transaction, measured on
  the items `create_charged` would send (built, not sent) against DynamoDB's limits (store.db). Tasks that
  share admin counter shards, channel and device are put next to each other first: fewer counter items.
- `hold`: while held, a task is in no dispatch path: not in the sparse poll index (`poll_due_v2`) (no next_poll_at:
  the dispatcher), skipped by the retry worker (`create_hold` set), and out of reach of admission wake-ups
  (they are conditioned on `next_poll_at`). Its deadline is the hold's expiry, in a deadline lane of the
  `due` index, so the timeout sweeper fails and refunds the tasks of a create that died between chunks.
- `release`: the hold taken off and the task made due, in transactions of up to 100 updates.
- `withdraw`: a written chunk undone in one transaction, the mirror of its charge (money.withdraw_charges):
  refund entries, quota back, tasks deleted, counters back; conditioned on every task still held.

A relay submit (services/core/submission.submit_now) holds its one task the same way while the client waits
(`SUBMIT_HOLD`, the hold's expiry SUBMIT_RESCUE_SECONDS; `hold_submit`: in the poll index, that expiry its deadline,
not in a deadline lane): the write that records the upstream id takes the hold off (no extra write), and a
refusal takes the charge back with `withdraw_submit`, which leaves the ledger as if the request had never been
charged (docs/decisions.md, "Money": what a reply says was refused is never charged).
"""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.transactions import TransactWrite

from taskcenter import clock
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import states
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.db import (
    TRANSACT_WRITE_MAX_ITEMS,
    conditional_transaction,
    conditional_update,
    fits_one_transaction,
)
from taskcenter.store.models import Credential, LedgerEntry, Task, User
from taskcenter.store.money import Charge, Payer
from taskcenter.store.usage_log_counts import remove_counts as remove_log_counts

SUBMIT_HOLD = states.SUBMIT_HOLD  # a relay submit's task while its client waits (one task, one request)


def _grouping(task: Task) -> tuple[int, int, str]:
    return listing.admin_shard(int(task.id)), int(task.channel_id or 0), task.serial or f"@{task.account}"


def split(payer: Payer, tasks: list[Task]) -> list[list[Task]]:
    """The tasks in chunks that each fit one charge transaction (see the module doc)."""
    ordered = sorted(tasks, key=_grouping)  # stable: request order within a group
    fits: Callable[[list[Task]], bool] = lambda run: fits_one_transaction(  # noqa: E731
        task_store.create_charged_items(payer, run))
    chunks: list[list[Task]] = []
    start, guess = 0, 1
    while start < len(ordered):
        size = _largest_fit(ordered, start, guess, fits)
        chunks.append(ordered[start:start + size])
        start, guess = start + size, size
    return chunks


def _largest_fit(tasks: list[Task], start: int, guess: int, fits: Callable[[list[Task]], bool]) -> int:
    """The largest n with tasks[start:start+n] fitting. Chunks of one create are alike, so the search walks
    from the previous chunk's size (usually two builds); the first chunk bisects."""
    remaining = len(tasks) - start
    if guess <= 1:  # first chunk: gallop up from 1 until it does not fit, then bisect (small builds only)
        low, high = 0, 1
        while high <= remaining and fits(tasks[start:start + high]):
            low, high = high, high * 2
        high = min(high, remaining + 1)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(tasks[start:start + middle]) else (low, middle)
    else:
        low = min(guess, remaining)
        if fits(tasks[start:start + low]):
            while low < remaining and fits(tasks[start:start + low + 1]):
                low += 1
        else:
            low -= 1
            while low > 0 and not fits(tasks[start:start + low]):
                low -= 1
    if low < 1:
        raise ValueError(f"task {tasks[start].task_id} alone does not fit one transaction")
    return low


def hold(tasks: list[Task], hold_id: str, until_ms: int, *, due_ms: int | None = None) -> None:
    """Mark unsaved tasks held by `hold_id` (see the module doc); their deadline is the hold's expiry. Without
    `due_ms` they wait in a deadline lane of the `due` index (the sweeper's); with it in the poll index, due
    then (the dispatcher's: `hold_submit`)."""
    for task in tasks:
        task.create_hold = hold_id
        task.scheduled_ms = 0  # set on release: the sweeper defers the deadline of a scheduled task
        task.due_at = until_ms
        if due_ms is None:
            task.poll_shard = task_store.shard_for(task.task_id)  # the poll index needs next_poll_at too
            task.next_poll_at = None
            task.due_lane = task_store.shard_for(task.task_id)
        else:
            task_store.schedule_poll(task, due_ms)
            task.due_lane = None
        task_store.set_listing_attributes(task)  # a submit hold keeps the task out of the status indexes


def hold_submit(task: Task, until_ms: int, *, due_ms: int) -> None:
    """Mark an unsaved relay submit's task held while its client waits (SUBMIT_HOLD). Unlike a chunked create's
    hold it is in the poll index from the start, due at `due_ms` (the first poll time its acceptance would
    give it), its deadline the hold's expiry: the dispatcher leaves it alone while held, times it out after
    (a request that died), and the write recording the upstream id leaves the entry as it is: one index
    entry for the whole life instead of a deadline lane's entry replaced by a poll index entry
    (docs/decisions.md, "A relay submit's hold in the poll index")."""
    hold([task], SUBMIT_HOLD, until_ms, due_ms=due_ms)


def fits_unheld(payer: Payer, tasks: list[Task], *, due_ms: int, scheduled_ms: int) -> bool:
    """Take the hold off unsaved tasks (a create that is one transaction needs none) if they still fit
    one transaction; else they stay held."""
    hold_id, until_ms = str(tasks[0].create_hold), int(tasks[0].due_at or 0)
    for task in tasks:
        task.create_hold, task.scheduled_ms = None, scheduled_ms
        task_store.schedule_poll(task, due_ms)
        task_store.set_deadline(task)
    if fits_one_transaction(task_store.create_charged_items(payer, tasks)):
        return True
    hold(tasks, hold_id, until_ms)
    return False


def _release_actions(task: Task, due_ms: int, scheduled_ms: int) -> list:
    """poll_shard was written with the task; the hold lives in next_poll_at (absent), the deadline lane (due_at:
    the hold's expiry; a released task leaves the lane, the dispatcher checks its deadline) and scheduled_ms (0)."""
    deadline = task_store.deadline_after(max(int(task.submit_ms), scheduled_ms))
    actions = [Task.create_hold.remove(), Task.next_poll_at.set(due_ms), Task.due_at.set(deadline),
               Task.due_lane.remove(), Task.version.add(1), Task.updated_at.set(clock.now_s())]
    return actions + ([Task.scheduled_ms.set(scheduled_ms)] if scheduled_ms else [])


def _held_by(hold_id: str):  # type: ignore[no-untyped-def]
    return (Task.create_hold == hold_id) & (Task.status == states.NOT_START)


def release(tasks: list[Task], hold_id: str, *, due_ms: int, scheduled_ms: int) -> list[Task]:
    """Take the hold off: the tasks become due at `due_ms`. Returns those released; a task that moved while
    held (its owner stopped or deleted it) is left as it is."""
    released: list[Task] = []
    for start in range(0, len(tasks), TRANSACT_WRITE_MAX_ITEMS):  # one update item per task
        group = tasks[start:start + TRANSACT_WRITE_MAX_ITEMS]

        def build(tx: TransactWrite, group: list[Task] = group) -> None:
            for task in group:
                tx.update(Task(task_id=task.task_id), actions=_release_actions(task, due_ms, scheduled_ms),
                          condition=_held_by(hold_id))

        if conditional_transaction(build):
            released += [_released(task, due_ms, scheduled_ms) for task in group]
            continue
        for task in group:  # one of them moved: release the others one by one
            if conditional_update(Task(task_id=task.task_id), _release_actions(task, due_ms, scheduled_ms),
                                  _held_by(hold_id)):
                released.append(_released(task, due_ms, scheduled_ms))
    return released


def _released(task: Task, due_ms: int, scheduled_ms: int) -> Task:
    """The in-memory task as release wrote it (no read back: 1,000 GetItems for nothing)."""
    task.create_hold, task.next_poll_at, task.scheduled_ms = None, due_ms, scheduled_ms
    task_store.set_deadline(task)
    task.version = int(task.version) + 1
    return task


def withdraw(payer: Payer, tasks: list[Task], hold_id: str) -> bool:
    """Undo a written chunk of held tasks in one transaction (see the module doc). False if any of them is no
    longer held (the caller looks at each one again)."""
    charges = [Charge(t.task_id, int(t.attempt), int(t.quota)) for t in tasks]

    def removal(tx: TransactWrite) -> None:
        # the listing counters follow the deletes through the stream (store/counter_stream.py)
        for t in tasks:
            tx.delete(Task(task_id=t.task_id), condition=_held_by(hold_id) & (Task.attempt == int(t.attempt)))

    return money.withdraw_charges(payer, charges, removal)


def submit_withdrawal_deltas(task: Task) -> dict[str, int]:
    """The listing counters' moves that undo a held task's create (the in-memory twin, store/memory_held.py;
    on DynamoDB the stream consumer derives them from the delete)."""
    return {k: -v for k, v in listing.counter_deltas_for_create(
        task_store.listing_facts(task, states.NOT_START)).items()}


def withdraw_submit(task: Task) -> bool:
    """Undo a held relay submit in one transaction, the exact mirror of its charge (money._fill_charge): the
    charge's ledger entry deleted (none is left, not a charge/refund pair), user quota, used_quota and
    request_count back, the key's remaining and used quota back, the task deleted (condition: still held by
    SUBMIT_HOLD, NOT_START, this attempt), counters back. False if a condition failed: the task moved (the
    dispatcher failed it past the hold's expiry; its refund is the usual exactly-once one), nothing written."""
    amount, attempt = int(task.quota), int(task.attempt)
    user_id, key_hash = int(task.user_id), str(task.key_hash or "")
    # the entry must still exist; one its transaction counted is uncounted here (one read, refusal path only)
    charge = _charge_entry(user_id, f"charge#{task.task_id}#{attempt}") if amount > 0 else None
    if amount > 0 and charge is None:
        return False  # no charge to mirror: nothing is given back (the sweeper settles the task as any other)

    def build(tx: TransactWrite) -> None:
        tx.delete(Task(task_id=task.task_id), condition=_held_by(SUBMIT_HOLD) & (Task.attempt == attempt))
        if charge is not None:
            tx.delete(LedgerEntry(user_id=user_id, entry=str(charge.entry)), condition=LedgerEntry.entry.exists())
            remove_log_counts(tx, [charge])  # only if its transaction counted it (docs/usage-log.md, "total")
        tx.update(User(id=user_id), actions=[User.quota.add(amount), User.used_quota.add(-amount),
                                             User.request_count.add(-1)], condition=User.id.exists())
        if key_hash and amount > 0:
            tx.update(Credential(token_hash=key_hash),
                      actions=[Credential.remaining_quota.add(amount), Credential.used_quota.add(-amount)],
                      condition=Credential.token_hash.exists())
        # the listing counters follow the task's delete through the stream (store/counter_stream.py)

    return conditional_transaction(build)


def _charge_entry(user_id: int, entry: str) -> LedgerEntry | None:
    try:
        return LedgerEntry.get(user_id, entry, consistent_read=True)
    except LedgerEntry.DoesNotExist:
        return None
