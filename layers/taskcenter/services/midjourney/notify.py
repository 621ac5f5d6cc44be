"""midjourney-proxy's notifyHook (docs/webhooks.md): never sent to the upstream (it would call the client
unsigned, once, with its own ids); we call it ourselves with the task object (relay.hook_payload) on every
status and progress change, with retries, through the webhook queue.
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import webhook_rules
from taskcenter.domain.errors import BadInput


def notify_hook(body: dict[str, Any]) -> str:
    """The submit body's notifyHook, checked (an http(s) URL); "" when absent or empty."""
    value = body.get("notifyHook")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise BadInput("notifyHook must be a string", field="notifyHook")
    return webhook_rules.check_url(value, name="notifyHook")



# Task.extra key beside the hook's URL: the base URL the submit came in on, so the hook shows the task's links
# (`imageUrl`: /mj/image/{id}) as fetch shows them when PUBLIC_BASE_URL is unset (found by hostile testing)
BASE_FIELD = "notify_base"
