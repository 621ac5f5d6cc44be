"""What the local stack prints when it is ready, and its `--check` (docs/local-stack.md)."""

from __future__ import annotations

import json
import shlex
import urllib.request
from typing import TYPE_CHECKING, Any

from infra.local.context import StackContext

if TYPE_CHECKING:
    from infra.local.stack import LocalStack


def placeholders(ctx: StackContext) -> dict[str, Any]:
    creds = ctx.credentials
    return {"api": ctx.api_url,
            "demo_user_id": creds["demo"]["user_id"], "demo_token": creds["demo"]["access_token"],
            "demo_key": creds["demo"]["api_key"], "admin_user_id": creds["admin"]["user_id"],
            "admin_token": creds["admin"]["access_token"], "admin_key": creds["admin"]["api_key"]}


def user_self_request(ctx: StackContext) -> tuple[str, dict[str, str]]:
    demo = ctx.credentials["demo"]
    return (f"{ctx.api_url}/api/user/self",
            {"Authorization": f"Bearer {demo['access_token']}", "New-Api-User": str(demo["user_id"])})


def curl(url: str, headers: dict[str, str]) -> str:
    return " ".join(["curl -s", shlex.quote(url), *(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items())])


def banner(stack: LocalStack, ctx: StackContext) -> str:
    creds = ctx.credentials
    url, headers = user_self_request(ctx)
    values = placeholders(ctx)
    lines = [
        "",
        "Task Center local stack",
        f"  API            {ctx.api_url}",
        f"  AWS (moto)     {ctx.moto_url}",
        *(f"  {c.name:<14} {c.url}" for c in stack.started if c.url and c.name not in {"api", "moto"}),
        "",
        *(f"  {name:<6} user_id={creds[name]['user_id']} access_token={creds[name]['access_token']}"
          f" api_key={creds[name]['api_key']}" for name in ("admin", "demo")),
        *(f"  channel {c['id']}: {c['type']} -> {c['base_url']}" for c in creds["channels"]),
        "",
        "Try:",
        f"  {curl(url, headers)}",
        *(f"  {example.format_map(values)}" for example in ctx.examples),
        "",
        f"Credentials: {stack.state_dir / 'credentials.json'}   Logs: {stack.state_dir / 'logs'}/",
        "Admin: .venv/bin/python -m infra.admin_cli get_user --username demo",
        f"State: {stack.state_dir / 'state.json'} (kept across restarts; --fresh starts from nothing)"
        if stack.persist else "State: not kept (--check)",
        "Ctrl-C stops everything (and saves the state).",
    ]
    return "\n".join(lines)


def check(ctx: StackContext) -> list[str]:
    """The printed curl, with urllib, plus the components' checks. Returns the failures."""
    failures = []
    url, headers = user_self_request(ctx)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
            body = json.loads(reply.read())
            if reply.status != 200 or not body.get("success") or body["data"]["username"] != "demo":
                failures.append(f"GET /api/user/self answered {reply.status} {body}")
    except Exception as error:
        failures.append(f"GET /api/user/self failed: {error}")
    for name, run in ctx.checks:
        try:
            run()
        except Exception as error:
            failures.append(f"{name}: {error!r}")
    return failures
