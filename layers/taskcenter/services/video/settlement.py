"""Settlement of a finished video's price (docs/video.md, "Pricing and settlement").

Submission charged the requested seconds at the requested size. When the upstream reports what it
produced (the Sora video object's `seconds` and `size`, Kling's and Seedance's `duration`), the move to
SUCCESS prices that and carries the difference in its own conditional write (the platform row's
`settled_charge`, asked by core/lifecycle.move; the tasks repository's `succeed_and_settle`): one second
ledger entry (settle#<task>#<attempt>) made with the move or not at all, so exactly once, and never on a
failure (a failure is refunded whole).
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import states, video_pricing


def produced(task: Any, data: Any = None) -> tuple[str, str, float] | None:
    """(model, size, seconds) the upstream says it produced in `data` (the task's own by default; Sora: the
    object's seconds and size; Kling: the video's duration, at the requested mode); None when it did not say."""
    data = task.data if data is None else data
    data = data if isinstance(data, dict) else {}
    props = task.properties or {}
    try:
        seconds = float(data.get("seconds") if data.get("seconds") is not None else data.get("duration"))
    except (TypeError, ValueError):
        return None
    if not 0 <= seconds <= 3600:
        return None
    size = data.get("size") if isinstance(data.get("size"), str) else str(props.get("size") or "")
    return str(props.get("model") or ""), size, seconds


def price_of_produced(task: Any, data: Any = None) -> int | None:
    """The quota what the upstream produced costs, at today's prices and the task's group; None when it did
    not say what it produced, or that has no price (the submitted price stands)."""
    facts = produced(task, data)
    if facts is None:
        return None
    model, size, seconds = facts
    try:
        return int(video_pricing.quota_for(model, size, seconds, str(task.group or "default")))
    except (KeyError, ValueError):
        return None


def settled_charge(task: Any, data: Any) -> int | None:
    """What the move to SUCCESS writing `data` settles the charged attempt at; None: nothing to settle
    (not charged, nothing reported, no price, or the same price), so the move stays one conditional write."""
    if task.billing != states.BILLING_CHARGED:
        return None
    actual = price_of_produced(task, data)
    return None if actual is None or actual == int(task.quota) else actual
