"""A channel's status and what it allows (docs/admin.md, "Channels"): the one place for the rule.

- ENABLED (1): takes new tasks and follows its own.
- DISABLED (2): drains -- no new tasks, but the tasks it holds are still polled (and answer) to the end.
- DELETED (3): soft-deleted; its in-flight tasks fail and are refunded.
"""

from __future__ import annotations

from typing import Any

ENABLED, DISABLED, DELETED = 1, 2, 3
SETTABLE = frozenset({ENABLED, DISABLED})  # what create_channel accepts
ALL = frozenset({ENABLED, DISABLED, DELETED})  # what update_channel accepts
FOLLOWED = frozenset({ENABLED, DISABLED})  # whose in-flight tasks are still polled


def takes_new_tasks(channel: Any) -> bool:
    """Enabled: a channel that may receive a submission."""
    return channel is not None and int(channel.status) == ENABLED


def follows_its_tasks(channel: Any) -> bool:
    """Enabled or draining: its tasks are still polled and refreshed."""
    return channel is not None and int(channel.status) in FOLLOWED


def is_draining(channel: Any) -> bool:
    return channel is not None and int(channel.status) == DISABLED
