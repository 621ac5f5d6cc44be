"""Seeding that is idempotent across restarts (docs/local-stack.md, "What survives a restart").

Tokens and keys are stored as hashes, so the plaintext credentials the stack printed exist only in
`<state dir>/seeded.json` (mode 0600, kept on stop, unlike credentials.json). After a snapshot was restored:
- the seeded users are reused if they still exist with the ids the file names: the same tokens and keys are
  printed again; a user that exists without its file gets new credentials (with a warning), a user that does
  not exist is created as on a fresh start;
- a seeded channel (matched by name) is kept, with its base URL, models, devices and accounts brought up to
  date (the simulators listen on new ports after a restart); a seed with no channel yet is created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.local.context import ChannelSeed, StackContext
from infra.local.snapshot import write_atomically

SEEDED_FILE = "seeded.json"
Op = Callable[[dict[str, Any]], Any]


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _find_user(op: Op, username: str) -> dict[str, Any] | None:
    try:
        return op({"op": "get_user", "username": username})
    except RuntimeError:  # stack._op raises on a refused op: not_found
        return None


def _account(op: Op, saved: dict[str, Any] | None, username: str, role: int, quota: int,
             say: Callable[[str], None]) -> dict[str, Any]:
    user = _find_user(op, username)
    if user is None:
        user = op({"op": "create_user", "username": username, "role": role, "quota": quota})
    elif saved and saved.get("user_id") == user["id"]:
        return dict(saved)  # the tokens printed before the restart, unchanged
    else:
        say(f"user {username!r} was restored without its saved credentials: issuing new ones")
    access = op({"op": "issue_access_token", "user_id": user["id"], "name": "local"})
    key = op({"op": "issue_key", "user_id": user["id"], "name": "local"})
    return {"user_id": user["id"], "username": username, "role": role, "quota": quota,
            "access_token": access["token"], "api_key": key["token"], "key_hash": key["token_hash"]}


def _channel_update(spec: ChannelSeed, channel: dict[str, Any]) -> dict[str, Any]:
    wanted = {"base_url": spec.base_url, "models": list(spec.models), "devices": list(spec.devices),
              "accounts": list(spec.accounts)}
    return {k: v for k, v in wanted.items() if channel.get(k) != v}


def seed_restored(ctx: StackContext, *, op: Op, accounts: tuple[tuple[str, int, int], ...],
                  channel_event: Callable[[ChannelSeed], dict[str, Any]], say: Callable[[str], None]) -> dict[str, Any]:
    """ctx.credentials for a stack whose state was restored: reuse what exists, create what does not."""
    saved = _load(ctx.state_dir / SEEDED_FILE)
    result: dict[str, Any] = {name: _account(op, saved.get(name), name, role, quota, say)
                              for name, role, quota in accounts}
    existing = {c.get("name"): c for c in op({"op": "list_channels"}) or []}
    channels = []
    for spec in ctx.channels:
        event = channel_event(spec)
        channel = existing.get(event["name"])
        if channel is None or channel.get("type") != spec.type:
            channels.append(op(event))
            continue
        changes = _channel_update(spec, channel)
        if changes:
            op({"op": "update_channel", "channel_id": channel["id"], **changes})
        channels.append(op({"op": "get_channel", "channel_id": channel["id"]}))
    return {**result, "channels": channels}


def save(ctx: StackContext) -> None:
    write_atomically(ctx.state_dir / SEEDED_FILE, json.dumps(ctx.credentials, indent=2).encode())
