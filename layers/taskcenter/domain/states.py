"""Task state machine (docs/engine.md, "State mapping")."""

from __future__ import annotations

NOT_START = "NOT_START"
SUBMITTED = "SUBMITTED"
QUEUED = "QUEUED"
IN_PROGRESS = "IN_PROGRESS"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
UNKNOWN = "UNKNOWN"
MODAL = "MODAL"  # Midjourney: waiting for a modal (region/prompt) submission

ALL_STATUSES = (NOT_START, SUBMITTED, QUEUED, IN_PROGRESS, FAILURE, SUCCESS, UNKNOWN)
MJ_STATUSES = (NOT_START, SUBMITTED, MODAL, IN_PROGRESS, FAILURE, SUCCESS)
TERMINAL = frozenset({SUCCESS, FAILURE})
# The hold of a relay submit's task while its client waits (store/held_create.py): such a task is in no status
# listing or status count until the upstream accepts it (docs/listing.md, "Indexes and what they cost").
SUBMIT_HOLD = "submit"

# Forward order; upstreams may skip steps. UNKNOWN and MODAL sit beside IN_PROGRESS.
_RANK = {NOT_START: 0, SUBMITTED: 1, QUEUED: 2, MODAL: 3, UNKNOWN: 3, IN_PROGRESS: 3, SUCCESS: 4, FAILURE: 4}

# Billing states of a task attempt.
BILLING_FREE = "free"  # nothing charged (price 0)
BILLING_CHARGED = "charged"
BILLING_REFUND_PENDING = "refund_pending"  # FAILURE reached, refund owed
BILLING_REFUNDED = "refunded"


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def may_transition(current: str, new: str) -> bool:
    """A transition is allowed when it does not leave a terminal state and does not move backwards.

    Same-rank moves among the in-progress family (IN_PROGRESS <-> UNKNOWN/MODAL) are allowed, so a
    flapping upstream is followed; out-of-order older reports (QUEUED after IN_PROGRESS) are ignored.
    """
    if current in TERMINAL:
        return False
    if current == new:
        return False
    return _RANK.get(new, -1) >= _RANK.get(current, -1)
