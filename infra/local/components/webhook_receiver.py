"""Local stack component: a webhook receiver (infra/local/webhook_receiver.py) in its own process,
allow-listed as a private destination so that endpoints and notifyHooks may point at it
(docs/webhooks.md). Its URL is the component's (credentials.json "components").
"""

from __future__ import annotations

import sys

from infra.local.context import ProcessComponent, StackContext, free_port

ORDER = 20  # before the API: the API and the workers read PRIVATE_HOST_ALLOWLIST when they start


def start(ctx: StackContext) -> ProcessComponent:
    port = free_port(ctx.host)
    url = f"http://{ctx.host}:{port}"
    component = ctx.spawn("webhook-receiver", [sys.executable, "-m", "infra.local.webhook_receiver",
                                               "--host", ctx.host, "--port", str(port)],
                          url=url, ready_url=f"{url}/health", timeout=20)
    ctx.allow_host(ctx.host, port)
    ctx.env["WEBHOOK_RECEIVER_URL"] = url
    ctx.examples.append(
        "curl -s -X POST {api}/api/webhook/self -H 'Authorization: Bearer {demo_token}' -H 'New-Api-User: "
        "{demo_user_id}' -H 'Content-Type: application/json' -d '{{\"url\": \"" + url + "/demo\"}}'")
    return component
