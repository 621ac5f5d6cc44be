"""midjourney-proxy's notifyHook (docs/webhooks.md): never sent to the upstream (it would call the client
unsigned, once, with its own ids); we call it ourselves with the task object (`hook_payload`) on every
status and progress change, with retries, through the webhook queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter import settings
from taskcenter.domain import webhook_rules
from taskcenter.domain.errors import BadInput

if TYPE_CHECKING:
    from taskcenter.store.models import Task


def notify_hook(body: dict[str, Any]) -> str:
    """The submit body's notifyHook, checked (an http(s) URL); "" when absent or empty."""
    value = body.get("notifyHook")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise BadInput("notifyHook must be a string", field="notifyHook")
    return webhook_rules.check_url(value, name="notifyHook")


def hook_payload(task: Task) -> dict[str, Any]:
    """What the hook receives: the task object as fetch shows it (midjourney-proxy posts the same)."""
    from taskcenter.services.midjourney.relay import task_view  # relay imports this module

    return task_view(task, settings.get().public_base_url.rstrip("/"))
