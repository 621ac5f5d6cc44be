"""Retry worker (docs/engine.md): resubmits one NOT_START task for a `retry` message
{"task_id", "attempt", "reason"} (reason: "start" from the dispatcher for deferred starts and
transient submission failures; "retry" from manual retry / retry-all).

- A message whose attempt is not the task's current attempt, whose task is already past NOT_START, whose
  task is held by a create still being written (`create_hold`), or whose task is not due yet (next_poll_at
  more than 2 s ahead: claimed by another worker, or backing off) is ignored (duplicates and stale
  messages are harmless; the dispatcher sends it when due).
- Before submitting, the worker *claims* the task: one conditional write on the version it read that
  moves next_poll_at to now + RETRY_CLAIM_SECONDS. Of two deliveries racing for one task only one
  claims it, so the upstream never receives the same task twice; if the worker dies after the claim,
  the dispatcher finds the task again when the claim expires.
- Submission itself (failover to another channel, backoff with jitter, failing and refunding after
  SUBMIT_MAX_RETRIES) is `services.submission.dispatch_to_upstream`. When it defers the task by less
  than the SQS maximum delay, the worker sends the next retry message with that delay, so a 10 s
  backoff means 10 s, not "at the next dispatcher minute".
- Messages with a "kind" belong to another feature sharing the queue (Task API v1 retry-all pages) and
  are forwarded to the platform that handles that kind (its `message_kinds` in services/platforms.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues, settings
from taskcenter.domain import states
from taskcenter.observability import logger, task_log_context
from taskcenter.services.core import platform_registry, submission
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

IGNORED, CLAIM_LOST, DISPATCHED, FORWARDED = "ignored", "claim_lost", "dispatched", "forwarded"
MAX_SQS_DELAY_S = 900
EARLY_TOLERANCE_MS = 2000  # SQS delays are whole seconds


@dataclass(frozen=True)
class RetryMessage:
    task_id: str
    attempt: int
    reason: str = "retry"
    hold_until: int = 0  # set by the dispatcher: the next_poll_at it moved the task to for this message

    @classmethod
    def parse(cls, body: str | dict[str, Any]) -> RetryMessage:
        raw, task_id, attempt = queues.task_message(body, "retry")
        return cls(task_id=task_id, attempt=attempt, reason=str(raw.get("reason") or "retry"),
                   hold_until=int(raw.get("hold_until") or 0))


def claim(task: Task) -> bool:
    """Take the task for this worker (conditional on the version read). False if another worker has it."""
    until = clock.now_ms() + settings.get().retry_claim_seconds * 1000
    return repositories().tasks.hold_until(task, until)



def retry_from_message(body: str | dict[str, Any]) -> str:
    """The retry worker's record handler. Returns ignored | claim_lost | dispatched | forwarded."""
    raw = json.loads(body) if isinstance(body, str) else dict(body)
    kind = raw.get("kind")
    if kind:
        handler = platform_registry.message_handler(str(kind))  # a platform's row (services/platforms.py)
        if handler is None:
            raise ValueError(f"unknown retry message kind {kind!r}")
        handler(raw)
        return FORWARDED
    message = RetryMessage.parse(raw)
    with task_log_context(message.task_id):
        return _retry(message)


def _retry(message: RetryMessage) -> str:
    task = repositories().tasks.get(message.task_id)
    if task is None or int(task.attempt) != message.attempt or task.status != states.NOT_START:
        logger.info("retry message ignored", extra={"task_id": message.task_id, "attempt": message.attempt,
                                                    "reason": message.reason,
                                                    "status": task.status if task else None})
        return IGNORED
    if task.create_hold:  # a multi-chunk create not complete yet: nothing may start it (docs/task-api-v1.md)
        logger.info("retry message ignored: task held by its create", extra={"task_id": task.task_id})
        return IGNORED
    held_for_this = bool(message.hold_until) and task.next_poll_at is not None \
        and int(task.next_poll_at) == message.hold_until
    if task.next_poll_at is not None and int(task.next_poll_at) - clock.now_ms() > EARLY_TOLERANCE_MS \
            and not held_for_this:
        logger.info("retry message ignored: task claimed or backing off",
                    extra={"task_id": task.task_id, "next_poll_at": int(task.next_poll_at)})
        return IGNORED
    if not claim(task):
        logger.info("retry lost the claim to another worker", extra={"task_id": task.task_id})
        return CLAIM_LOST
    task = submission.dispatch_to_upstream(task, client_waiting=False)
    logger.info("retry dispatched", extra={"task_id": task.task_id, "status": task.status,
                                           "submit_attempts": int(task.submit_attempts or 0)})
    _follow_backoff(task)
    return DISPATCHED


def _follow_backoff(task: Task) -> None:
    """Still NOT_START with a near next_poll_at (a submission backoff): send the retry with that delay."""
    if task.status != states.NOT_START or task.next_poll_at is None:
        return
    delay_s = max(0, -(-(int(task.next_poll_at) - clock.now_ms()) // 1000))  # ceil: never before it is due
    if delay_s > MAX_SQS_DELAY_S or delay_s >= settings.get().retry_claim_seconds:
        return  # the dispatcher will find it
    try:
        queues.send("retry", {"task_id": task.task_id, "attempt": int(task.attempt), "reason": "start"},
                    delay_seconds=int(delay_s))
    except Exception:  # the dispatcher finds it through next_poll_at anyway
        logger.warning("retry backoff enqueue failed", extra={"task_id": task.task_id})
