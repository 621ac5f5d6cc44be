"""Settlement of a finished video's price (docs/video.md, "Pricing and settlement").

Submission charged the requested seconds at the requested size. When the upstream reports what it
produced (the Sora video object's `seconds` and `size`), the winner of the move to SUCCESS (the platform
row's terminal hook, core/lifecycle.py) prices that and lets the ledger settle the difference: one second
ledger entry (settle#<task>#<attempt>), exactly once, never on a failure (a failure is refunded whole).
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import states, video_pricing
from taskcenter.observability import logger
from taskcenter.store.repositories import current as repositories


def produced(task: Any) -> tuple[str, str, float] | None:
    """(model, size, seconds) the upstream says it produced (Sora: the object's seconds and size; Kling: the
    video's duration, at the requested mode); None when it did not say."""
    data = task.data if isinstance(task.data, dict) else {}
    props = task.properties or {}
    try:
        seconds = float(data.get("seconds") if data.get("seconds") is not None else data.get("duration"))
    except (TypeError, ValueError):
        return None
    if not 0 <= seconds <= 3600:
        return None
    size = data.get("size") if isinstance(data.get("size"), str) else str(props.get("size") or "")
    return str(props.get("model") or ""), size, seconds


def on_terminal(task: Any) -> None:
    if task.status != states.SUCCESS or task.billing != states.BILLING_CHARGED:
        return
    facts = produced(task)
    if facts is None:
        return
    model, size, seconds = facts
    try:
        actual = video_pricing.quota_for(model, size, seconds, str(task.group or "default"))
    except (KeyError, ValueError):
        return  # no price for what it produced: the submitted price stands
    moved = repositories().ledger.settle(task.task_id, int(task.attempt), actual)
    if moved:
        logger.info("video settled", extra={"task_id": task.task_id, "charged": int(task.quota) , "delta": moved})
