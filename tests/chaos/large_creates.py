"""The chaos run's large Task API v1 creates (docs/chaos.md): a 1,000-task fan-out, and refused large creates.

- fan-out: one `POST /api/v1/task` of `fanout` tasks (follow, devices x targets) by its own user; its tasks
  then run under the same chaos as the rest and meet the same invariants.
- refused: two creates of `size` tasks each, at the same moment, paid by one key that holds 1.5 x `size`
  tasks: both pass the quota precheck, and at least one runs out part-way (or, if the timing falls so, at
  the precheck). What a reply refused must have left nothing: no task, every charge refunded, the user's
  and the key's quota as if it had never been sent.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.chaos import run as chaos
from tests.chaos.checks import Check, ledger


@dataclass
class LargeCreates:
    fan_user: chaos.User | None = None
    fan_reply: Any = None
    fan_ids: list[int] = field(default_factory=list)
    limited_user: chaos.User | None = None
    key_hash: str = ""
    key_quota: int = 0
    replies: list[tuple[int, Any]] = field(default_factory=list)

    @property
    def user_ids(self) -> set[int]:
        return {u.user_id for u in (self.fan_user, self.limited_user) if u is not None}


def _user(plan: str, key_quota: int | None = None) -> tuple[chaos.User, str]:
    from taskcenter.services.admin import operations as admin

    name = "large" + secrets.token_hex(4)
    user = admin.create_user(name, quota=20_000_000_000, plan=plan)
    key = admin.issue_credential(user["id"], "key", name="chaos", unlimited=key_quota is None,
                                 remaining_quota=key_quota or 0)
    return chaos.User(int(user["id"]), name, key["token"]), str(key["token_hash"])


def _body(devices: list[str], count: int, tag: str) -> dict[str, Any]:
    spread = max(k for k in range(1, min(len(devices), count) + 1) if count % k == 0)  # devices x targets = count
    used, targets = devices[:spread], count // spread
    return {"serials": used, "script_name": "follow",
            "script_config": {"target_usernames": [f"{tag}{i}" for i in range(targets)], "interval_seconds": 1}}


def run(api: str, devices: list[str], fanout: int, size: int, log: Any) -> LargeCreates:
    from taskcenter.domain import pricing

    out = LargeCreates()
    if fanout:
        out.fan_user, _ = _user("Business")
        status, out.fan_reply = chaos.call("POST", f"{api}/api/v1/task", _body(devices, fanout, "fan"),
                                           out.fan_user.headers(), timeout=120)
        if status == 200 and isinstance(out.fan_reply, dict) and out.fan_reply.get("code") == 0:
            out.fan_ids = list(out.fan_reply["data"]["task_ids"])
        log(f"fan-out create of {fanout}: HTTP {status}, {len(out.fan_ids)} tasks")
    if size:
        out.key_quota = pricing.quota_for("v1_follow", "default") * (size * 3 // 2)
        out.limited_user, out.key_hash = _user("Business", out.key_quota)
        lock = threading.Lock()

        def create(tag: str) -> None:
            reply = chaos.call("POST", f"{api}/api/v1/task", _body(devices, size, tag), out.limited_user.headers(),
                               timeout=120)
            with lock:
                out.replies.append(reply)

        threads = [threading.Thread(target=create, args=(tag,)) for tag in ("ra", "rb")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        log(f"two creates of {size} on a key holding {size * 3 // 2}: "
            f"{[(s, r.get('code') if isinstance(r, dict) else r) for s, r in out.replies]}")
    return out


def checks(out: LargeCreates, tasks: list[Any]) -> tuple[list[Check], dict[str, Any]]:
    from taskcenter.store.models import Credential

    found: list[Check] = []
    figures: dict[str, Any] = {}
    if out.fan_user is not None:
        mine = {int(t.id) for t in tasks if int(t.user_id) == out.fan_user.user_id}
        found.append(Check("the fan-out create wrote every task", bool(out.fan_ids)
                                 and mine == set(out.fan_ids), f"{len(out.fan_ids)} ids answered, {len(mine)} in the "
                                 f"table; reply {str(out.fan_reply)[:120] if not out.fan_ids else 'ok'}"))
        figures["fan-out tasks"] = len(out.fan_ids)
    if out.limited_user is not None:
        uid = out.limited_user.user_id
        accepted = [r for s, r in out.replies if s == 200 and isinstance(r, dict) and r.get("code") == 0]
        refused = [r for s, r in out.replies if not (s == 200 and isinstance(r, dict) and r.get("code") == 0)]
        answered = {int(i) for r in accepted for i in r["data"]["task_ids"]}
        table = {int(t.id) for t in tasks if int(t.user_id) == uid}
        entries = ledger(uid)
        absent = {e.task_id for e in entries if e.kind == "charge" and int(e.task_id[3:]) not in table}
        kinds = {t: sorted(e.kind for e in entries if e.task_id == t) for t in absent}
        spent = sum(int(e.amount) * (1 if e.kind == "charge" else -1) for e in entries
                    if e.kind in ("charge", "refund") and e.key_hash == out.key_hash)
        remaining = int(Credential.get(out.key_hash, consistent_read=True).remaining_quota or 0)
        ok = (bool(refused) and table == answered and all(k == ["charge", "refund"] for k in kinds.values())
              and remaining == out.key_quota - spent)
        found.append(Check(
            "nothing charged that was refused", ok,
            f"{len(accepted)} accepted / {len(refused)} refused ({[str(r)[:60] for r in refused]}); {len(table)} tasks "
            f"in the table for {len(answered)} answered; {len(absent)} refused tasks charged and refunded "
            f"(part-way: {'yes' if absent else 'no, at the precheck'}); key {remaining} left of {out.key_quota}, "
            f"ledger says {out.key_quota - spent}"))
        figures["refused create: withdrawn tasks"] = len(absent)
    return found, figures
