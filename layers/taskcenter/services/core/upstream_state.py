"""Applying one upstream report to a stored task: the state mapping shared by the poll worker (jobs/polling.py)
and the surfaces that refresh a task on read (midjourney/relay.py). docs/engine.md describes the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.observability import logger
from taskcenter.providers.base import UpstreamState
from taskcenter.services.core.lifecycle import after_move, move
from taskcenter.store import item_size
from taskcenter.store import tasks as task_store
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

KNOWN_STATUSES = frozenset(states.ALL_STATUSES) | {states.MODAL}


def last_change_ms(task: Task) -> int:
    return int(task.updated_at or 0) * 1000


def normalise_status(status: str) -> str:
    status = (status or "").upper()
    return status if status in KNOWN_STATUSES else states.UNKNOWN


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value) if isinstance(value, dict) else {}


def field_changes(task: Task, state: UpstreamState, new_status: str, now_ms: int) -> dict[str, Any]:
    """The facts the upstream reports that differ from the stored task, as repository changes ({} if none)."""
    changes: dict[str, Any] = {}
    if state.progress and state.progress != task.progress and new_status not in states.TERMINAL:
        changes["progress"] = state.progress
    data = state.data if state.data is not None and state.data != task.data else None
    extra = None
    if state.extra:
        current = _as_dict(task.extra)
        merged = {**current, **state.extra}
        extra = merged if merged != current else None
    data, extra = item_size.storable_result(task, data, extra)  # never past DynamoDB's 400 KB item
    if data is not None:
        changes["data"] = data
    if new_status == states.IN_PROGRESS and not int(task.start_ms or 0):
        changes["start_ms"] = int(state.start_ms or now_ms)
    if extra is not None:
        changes["extra"] = extra
    if int(task.poll_misses or 0):
        changes["poll_misses"] = 0
    return changes


def reschedule_changes(task: Task, now_ms: int) -> dict[str, Any]:
    """Keep a changed task in the poll index (`poll_due_v2`). A task already in it keeps its entry:
    re-keying it at every move and progress write would cost 2 write units each (docs/engine.md, "Polling");
    the dispatcher reads it meanwhile and skips it while it is fresh (its chain has it), reads cost a
    fraction of that."""
    if task.next_poll_at is not None:
        return {}
    return task_store.hold_changes(task.task_id, now_ms + settings.get().poll_fast_window_seconds * 1000)


UNCHANGED, UPDATED, MOVED, LOST_RACE = "unchanged", "updated", "moved", "lost_race"


def apply_upstream_state(task: Task, state: UpstreamState) -> str:
    """Bring the stored task in line with what the upstream reports. Returns what happened.

    Terminal tasks and reports that would move backwards (out-of-order or duplicate deliveries) write
    nothing. A move is a conditional transition: a racing worker that already moved the task makes this
    call lose (LOST_RACE) and do nothing else; only the winner triggers the refund. A move to SUCCESS writes the
    upstream's result and, where the platform settles a price from it (video), the settlement in the same write
    (lifecycle.move; docs/video.md).
    """
    if task.status in states.TERMINAL:
        return UNCHANGED
    now = clock.now_ms()
    reported = normalise_status(state.status)
    if reported != task.status and not states.may_transition(task.status, reported):
        return UNCHANGED  # an older report than what we hold (reordered or duplicate delivery): ignore it
    if reported == task.status:
        changes = field_changes(task, state, task.status, now)
        if not changes:
            return UNCHANGED
        recent = now - last_change_ms(task) < settings.get().poll_progress_min_interval_seconds * 1000
        if not int(task.poll_misses or 0) and recent:
            return UNCHANGED  # progress moved, but we wrote it moments ago: the next poll will carry it
        # the update answers the item as written: `task` is current without another read
        if not repositories().tasks.update(task, {**changes, **reschedule_changes(task, now)}):
            return LOST_RACE  # the winner's progress event comes from the stream (docs/webhooks.md)
        return UPDATED
    changes = {**field_changes(task, state, reported, now), **reschedule_changes(task, now)}
    reason = ""
    if reported == states.FAILURE:
        reason = (state.fail_reason or "upstream reported failure")[:1000]
    if not move(task, reported, changes, fail_reason=reason):
        logger.info("transition lost to another worker", extra={"task_id": task.task_id, "to": reported})
        return LOST_RACE
    logger.info("task moved", extra={"task_id": task.task_id, "status": reported, "upstream_id": task.upstream_id})
    after_move(task)
    return MOVED
