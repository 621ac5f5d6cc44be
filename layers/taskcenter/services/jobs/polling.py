"""The polling engine (docs/engine.md): poll dispatcher, poll worker, upstream state mapping.

How a task is followed once it has an upstream id (docs/engine.md has the whole picture):

- **Fast lane (chains).** Every poll message that still holds in-flight tasks which moved recently
  (`updated_at` within `POLL_FAST_WINDOW_SECONDS`, default 300 s) re-enqueues them with an SQS delay
  of `POLL_CHAIN_DELAY_SECONDS` (default 8 s), so a task that finishes upstream is visible within
  about 10 s. Continuations from the messages of one Lambda batch are merged per channel (batch fetch
  of up to `POLL_BATCH_SIZE` ids), so chains coalesce instead of multiplying.
- **Slow lane (dispatcher).** Every minute the dispatcher queries the sparse, keys-only poll index
  (`next_poll_at <= now`, per shard, never a scan), reads those tasks (BatchGetItem) and sends the ones
  that are *stale* (no change for the fast window) with a backoff that grows with their staleness (1, 2,
  5, then 10 minutes), computed from what the item already says: an unchanged poll writes nothing, ever.
- NOT_START tasks found due (deferred start, device slot, transient submission failure) are not
  polled: they get a `retry` message (the retry worker resubmits them).

Writes: a poll writes only when something changed: a status move is one `transition` (conditional on
status and version, counters in the same transaction); a change of progress/data within a status is
one conditional `update`. Both also set `next_poll_at` (free: same request). Storage is reached through
the repositories only (store/repositories.py, docs/repositories.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues, settings
from taskcenter.domain import channel_status, states
from taskcenter.domain.errors import Unavailable
from taskcenter.observability import logger, metrics, task_log_context
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import platform_registry
from taskcenter.services.core.lifecycle import fail_task
from taskcenter.services.core.upstream_state import (  # noqa: F401 - part of this module's interface (tests, bench)
    LOST_RACE,
    MOVED,
    UNCHANGED,
    UPDATED,
    apply_upstream_state,
    field_changes,
    last_change_ms,
    normalise_status,
    reschedule_changes,
)
from taskcenter.services.jobs import sweeper
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

# Slow lane: (staleness below, poll every N minutes). Staleness counts from the end of the fast window.
SLOW_STEPS_MINUTES: tuple[tuple[int, int], ...] = ((10, 1), (30, 2), (120, 5))
SLOW_STEP_MAX_MINUTES = 10

IN_FLIGHT = frozenset({states.SUBMITTED, states.QUEUED, states.IN_PROGRESS, states.UNKNOWN, states.MODAL})


# ---------------------------------------------------------------- chain timing
def aligned_chain_delay(now_ms: int) -> int:
    """The chain delay, shortened so links land on a shared grid of POLL_CHAIN_DELAY_SECONDS slots: chains
    started at different times become visible together and merge in one Lambda batch (latency <= delay)."""
    delay = settings.get().poll_chain_delay_seconds
    if delay <= 1:
        return delay
    return delay - (now_ms // 1000) % delay


# ---------------------------------------------------------------- pure rules
def is_fresh(task: Task, now_ms: int) -> bool:
    """Moved within the fast window: the chain (fast lane) follows it, the dispatcher leaves it alone."""
    return now_ms - last_change_ms(task) < settings.get().poll_fast_window_seconds * 1000


def slow_step_minutes(stale_ms: int) -> int:
    minutes = max(0, stale_ms) // 60_000
    for below, step in SLOW_STEPS_MINUTES:
        if minutes < below:
            return step
    return SLOW_STEP_MAX_MINUTES


def dispatcher_should_poll(task: Task, now_ms: int) -> bool:
    """Slow-lane backoff without writes: poll on the minutes of staleness that are multiples of the step."""
    if is_fresh(task, now_ms):
        return False
    window_ms = settings.get().poll_fast_window_seconds * 1000
    stale_since = max(int(task.next_poll_at or 0), last_change_ms(task) + window_ms)
    stale_ms = now_ms - stale_since
    if stale_ms < 0:
        return False
    return (stale_ms // 60_000) % slow_step_minutes(stale_ms) == 0


def record_miss(task: Task) -> str:
    """The upstream's batch reply left this task out. After POLL_MAX_MISSES in a row it fails (refunded).

    A miss writes (poll_misses + 1); it also refreshes updated_at, so the task leaves the fast lane for a
    while: misses are spaced by the fast window, a short upstream hiccup does not fail tasks.
    """
    misses = int(task.poll_misses or 0) + 1
    if misses >= settings.get().poll_max_misses:
        won = fail_task(task, f"upstream no longer knows this task (not returned by {misses} polls)")
        return MOVED if won else LOST_RACE
    if not repositories().tasks.update(task, {"poll_misses": misses}):
        return LOST_RACE
    logger.warning("task missing from upstream reply", extra={"task_id": task.task_id, "misses": misses})
    return UPDATED


# ---------------------------------------------------------------- the poll worker
@dataclass
class PollMessage:
    channel_id: int
    task_ids: list[str]
    chain: int = 0
    due_ms: int = 0
    delay_s: int = 0  # SQS delay it is sent with (not part of the body)

    @classmethod
    def parse(cls, body: str | dict[str, Any]) -> PollMessage:
        raw = json.loads(body) if isinstance(body, str) else dict(body)
        task_ids = raw.get("task_ids")
        if not isinstance(task_ids, list) or not all(isinstance(t, str) and t for t in task_ids):
            raise ValueError("poll message needs task_ids: a list of task ids")
        return cls(channel_id=int(raw["channel_id"]), task_ids=list(dict.fromkeys(task_ids)),
                   chain=int(raw.get("chain") or 0), due_ms=int(raw.get("due_ms") or 0))

    def body(self) -> dict[str, Any]:
        return {"channel_id": self.channel_id, "task_ids": self.task_ids, "chain": self.chain, "due_ms": self.due_ms}


@dataclass
class PollResult:
    outcomes: dict[str, str] = field(default_factory=dict)  # task_id -> unchanged | updated | moved | ...
    continue_ids: list[str] = field(default_factory=list)  # still in flight and fresh: poll again soon
    upstream_calls: int = 0


def poll_batch(message: PollMessage) -> PollResult:
    """One message: read the tasks (one BatchGetItem), one upstream batch fetch, apply what changed.

    Raises on an upstream error (transient or not): the message is retried by SQS and, if it keeps
    failing, lands in the dead-letter queue (alarm); the dispatcher keeps covering the tasks meanwhile.
    """
    result = PollResult()
    now = clock.now_ms()
    if message.due_ms:
        metrics.add_metric(name="PollLagSeconds", unit="Seconds", value=max(0, now - message.due_ms) / 1000)
    tasks = [t for t in repositories().tasks.get_many(message.task_ids)
             if t.status in IN_FLIGHT and int(t.channel_id or 0) == message.channel_id]
    if not tasks:
        return result
    channel = channel_service.get_channel(message.channel_id)
    if not channel_status.follows_its_tasks(channel):
        # Deleted (or gone): its tasks fail and are refunded. A disabled channel drains: no new tasks go
        # to it, but what it already holds is followed to the end (docs/admin.md, disable_channel).
        for task in tasks:
            result.outcomes[task.task_id] = MOVED if fail_task(task, "the channel of this task was deleted") \
                else LOST_RACE
        return result
    pollable: list[Task] = []
    for task in tasks:
        if not task.upstream_id:
            result.outcomes[task.task_id] = MOVED if fail_task(task, "missing upstream id") else LOST_RACE
        else:
            pollable.append(task)
    if not pollable:
        return result
    reply = platform_registry.fetch_states(channel_service.info(channel), [t.upstream_id for t in pollable])
    result.upstream_calls += 1
    for task in pollable:
        state = reply.get(task.upstream_id)
        with task_log_context(task.task_id):
            try:
                outcome = record_miss(task) if state is None else apply_upstream_state(task, state)
            except Exception:
                logger.exception("applying upstream state failed", extra={"task_id": task.task_id})
                raise
        result.outcomes[task.task_id] = outcome
    after = clock.now_ms()
    if message.chain < settings.get().poll_chain_max_links:
        result.continue_ids = [
            t.task_id for t in pollable
            if t.status in IN_FLIGHT and result.outcomes.get(t.task_id) in (UNCHANGED, UPDATED, MOVED)
            and is_fresh(t, after) and not int(t.poll_misses or 0)
        ]
    return result


class PollRun:
    """One Lambda invocation of the poll worker: polls each message, then sends the merged continuations.

    Continuations are merged per channel across the messages of the invocation (deduplicated, in
    batches of POLL_BATCH_SIZE), so concurrent chains coalesce. If a continuation cannot be sent, the
    messages it came from are reported as failed: SQS redelivers them (polling is idempotent).
    """

    def __init__(self) -> None:
        self.pending: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)  # channel -> task -> (chain, msg)
        self.upstream_calls = 0

    def poll_record(self, body: str, message_id: str = "") -> PollResult:
        message = PollMessage.parse(body)
        result = poll_batch(message)
        self.upstream_calls += result.upstream_calls
        for task_id in result.continue_ids:
            self.pending[message.channel_id][task_id] = (message.chain + 1, message_id)
        return result

    def continuations(self) -> list[tuple[PollMessage, set[str]]]:
        out: list[tuple[PollMessage, set[str]]] = []
        now = clock.now_ms()
        delay = aligned_chain_delay(now)
        due = now + delay * 1000
        for channel_id, entries in sorted(self.pending.items()):
            items = sorted(entries.items())
            for start in range(0, len(items), settings.get().poll_batch_size):
                chunk = items[start:start + settings.get().poll_batch_size]
                chain = max(c for _, (c, _) in chunk)
                out.append((PollMessage(channel_id, [t for t, _ in chunk], chain, due, delay),
                            {m for _, (_, m) in chunk}))
        return out

    def send_continuations(self) -> set[str]:
        """Send the merged continuations; returns the source message ids whose continuation failed."""
        failed: set[str] = set()
        for message, sources in self.continuations():
            try:
                queues.send("poll", message.body(), delay_seconds=message.delay_s)
            except Exception:
                logger.exception("poll continuation not sent; its messages will be redelivered",
                                 extra={"channel_id": message.channel_id, "task_ids": message.task_ids})
                failed |= {m for m in sources if m}
        self.pending.clear()
        return failed


# ---------------------------------------------------------------- the poll dispatcher
@dataclass
class DispatchReport:
    due: int = 0
    polled: int = 0
    retries: int = 0
    messages: int = 0
    skipped_fresh: int = 0
    skipped_backoff: int = 0
    timed_out: int = 0


# Where the last run stopped in each shard when it read POLL_DISPATCH_LIMIT entries: an unchanged poll writes
# nothing, so the oldest due entries stay the oldest, and a run that always began at them would never reach the
# rest (found by hostile testing, 4 Dec 2026). The next run goes on after it, the one after that starts over:
# every due task is read within a few runs. Kept in the warm instance (the dispatcher runs every minute); a cold
# start begins at the oldest again, which only delays the rest by a run.
_resume_after: dict[str, tuple[int, str]] = {}


def due_tasks(now_ms: int) -> Iterable[Task]:
    """Tasks whose next poll is due, as stored: per shard, the keys-only poll index's keys (one Query, no scan)
    and the items (one BatchGetItem per 100 keys)."""
    limit = settings.get().poll_dispatch_limit
    for shard in range(settings.get().poll_shards):
        name = f"s{shard}"
        after = _resume_after.pop(name, None)
        try:
            due = repositories().tasks.due_for_poll(name, now_ms, limit, after=after)
        except Unavailable as error:
            # The staged index migration (docs/deploy.md): nothing is due until the index is built, and nothing
            # is lost (every item keeps its next_poll_at); chains keep polling meanwhile. Not an error: no alarm.
            logger.warning("poll index not readable yet: nothing dispatched this minute",
                           extra={"cause": str(error.__cause__ or error)})
            return
        if due and len(due) >= limit:
            _resume_after[name] = (int(due[-1].next_poll_at or 0), due[-1].task_id)
        yield from due


def plan_dispatch(tasks: Iterable[Task], now_ms: int) -> tuple[list[PollMessage], list[dict[str, Any]], DispatchReport]:
    """Group due tasks by channel into poll messages (batches) and retry messages (NOT_START)."""
    report = DispatchReport()
    by_channel: dict[int, list[str]] = defaultdict(list)
    retries: list[dict[str, Any]] = []
    for task in tasks:
        report.due += 1
        if task.create_hold:
            continue  # held: its request (or the hold's expiry, a timeout) decides, nothing dispatches it
        if task.status == states.NOT_START:
            retries.append({"task_id": task.task_id, "attempt": int(task.attempt), "reason": "start"})
            continue
        if task.status not in IN_FLIGHT:
            continue  # terminal: its transition removed it from the index; a lagging GSI copy
        # (no upstream id: the message still goes out, and the poll worker fails the task)
        if task.upstream_id and not dispatcher_should_poll(task, now_ms):
            if is_fresh(task, now_ms):
                report.skipped_fresh += 1
            else:
                report.skipped_backoff += 1
            continue
        by_channel[int(task.channel_id or 0)].append(task.task_id)
        report.polled += 1
    messages: list[PollMessage] = []
    for channel_id, ids in sorted(by_channel.items()):
        for start in range(0, len(ids), settings.get().poll_batch_size):
            messages.append(PollMessage(channel_id, ids[start:start + settings.get().poll_batch_size], 0, now_ms))
    report.retries = len(retries)
    report.messages = len(messages)
    return messages, retries, report


def hold_for_start(retries: list[dict[str, Any]], tasks: dict[str, Task], now_ms: int) -> list[dict[str, Any]]:
    """Move each NOT_START task's next_poll_at past the retry claim window before its start message goes out
    (one conditional write each), so the next dispatcher run does not find it due and send it again while
    the message waits in a backlog (found by the chaos run). The message carries the hold: the retry worker
    accepts a task held by this message, and ignores it when the hold has moved on (a newer message has it).
    """
    hold_until = now_ms + settings.get().retry_claim_seconds * 1000
    held: list[dict[str, Any]] = []
    for body in retries:
        task = tasks.get(body["task_id"])
        if task is None:
            continue
        if repositories().tasks.update(task, {"next_poll_at": hold_until}):
            held.append({**body, "hold_until": hold_until})
    return held


def dispatch_due_polls() -> DispatchReport:
    """The every-minute job: due tasks -> one poll message per channel batch, one retry message per NOT_START."""
    now = clock.now_ms()
    due = list(due_tasks(now))
    # Deadlines are checked here, on the items read anyway (services/jobs/sweeper.py): no index lane per task.
    overdue = [t for t in due if sweeper.overdue(t, now)]
    due = [t for t in due if not sweeper.overdue(t, now)]
    messages, retries, report = plan_dispatch(due, now)
    report.due += len(overdue)
    report.timed_out = len(sweeper.time_out_all(overdue))  # one that lost the race moved: left for the next run
    if messages:
        queues.send_many("poll", [m.body() for m in messages])
    retries = hold_for_start(retries, {t.task_id: t for t in due}, now)
    if retries:
        queues.send_many("retry", retries)
    logger.info("poll dispatch", extra={"due": report.due, "polled": report.polled, "messages": report.messages,
                                        "retries": report.retries, "timed_out": report.timed_out,
                                        "skipped_fresh": report.skipped_fresh,
                                        "skipped_backoff": report.skipped_backoff})
    return report

