"""Admin operations: one module used by the admin Lambda (console Test events) and by the CLI.

Every operation validates its input first and raises BadInput/NotFound/Conflict before writing,
so bad input changes nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from taskcenter import clock, settings
from taskcenter.domain import channel_status
from taskcenter.domain import credentials as cred_rules
from taskcenter.domain.errors import BadInput, Conflict, NotFound
from taskcenter.domain.fields import integer as _int
from taskcenter.domain.fields import string_list as _str_list
from taskcenter.domain.fields import text as _text
from taskcenter.services.admin import secrets as admin_secrets
from taskcenter.store import item_size
from taskcenter.store.money import day_of
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:  # the rows the repositories hand back (store/models.py), for annotations only
    from taskcenter.store.models import Channel, User

ROLES = {1, 10, 100}
PLANS = {"Starter": 5, "Pro": 20, "Team": 50, "Business": 100}  # plan -> device_limit
CHANNEL_TYPES = {"suno", "midjourney", "tikmatrix", "sora", "kling", "doubao", "gemini"}
MAX_BASE_URL = 2048  # as long as a URL gets (browsers, proxies)
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,40}$")


def get_user(user_id: Any) -> User:
    uid = _int(user_id, "user_id", minimum=1)
    user = repositories().users.get(uid)
    if user is None:
        raise NotFound(f"user {uid} not found")
    return user


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": int(user.id), "username": user.username, "display_name": user.display_name,
        "role": int(user.role), "status": int(user.status), "group": user.group, "plan": user.plan,
        "timezone": user.timezone, "quota": int(user.quota), "used_quota": int(user.used_quota),
        "request_count": int(user.request_count),
    }


def create_user(username: str, *, role: Any = 1, group: str = "default", plan: str = "Pro",
                timezone: str = "UTC", quota: Any = 0, display_name: str = "") -> dict[str, Any]:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):  # `$` alone takes "alice\n"
        raise BadInput("username must be 3-40 characters of letters, digits, '_', '.', '-'", field="username")
    role = _int(role, "role")
    if role not in ROLES:
        raise BadInput("role must be 1 (user), 10 (admin) or 100 (root)", field="role")
    _check_plan(plan)
    _check_timezone(timezone)
    quota = _int(quota, "quota", minimum=0)
    if not isinstance(group, str) or not group or len(group) > 64:
        raise BadInput("group must be a non-empty string", field="group")
    display_name = _text(display_name, "display_name", limit=64)
    # Refuse a taken name before reserving an id, so a duplicate writes nothing (the guard in the
    # transaction below still settles a race between two creates).
    if repositories().users.id_of(username) is not None:
        raise Conflict(f"username {username!r} is taken", field="username")
    user_id = repositories().counters.next_id("user")
    now = clock.now_s()
    if repositories().users.create({"id": user_id, "username": username, "display_name": display_name or username,
                                    "role": role, "group": group, "plan": plan, "timezone": timezone, "quota": 0,
                                    "created_at": now, "updated_at": now}) is None:
        raise Conflict(f"username {username!r} is taken", field="username")
    if quota:
        repositories().ledger.credit(user_id, quota, note="initial quota")
    return user_view(get_user(user_id))


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise BadInput(f"plan must be one of {sorted(PLANS)}", field="plan")


def _check_timezone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise BadInput(f"unknown time zone {tz!r}", field="timezone") from error


def issue_credential(user_id: Any, kind: str, *, name: str = "", unlimited: bool = True,
                     remaining_quota: Any = 0, expires_at: Any = -1) -> dict[str, Any]:
    """Create an access token (kind=access) or API key (kind=key). The plaintext is returned once, never stored."""
    if kind not in {"access", "key"}:
        raise BadInput("kind must be 'access' or 'key'", field="kind")
    user = get_user(user_id)
    remaining = _int(remaining_quota, "remaining_quota", minimum=0)
    expires = _int(expires_at, "expires_at", minimum=-1)
    if kind == "access":
        # One dashboard access token per user (as new-api): issuing a new one revokes the old.
        for full in repositories().credentials.of_user(int(user.id)):
            if full.kind == "access" and full.status == cred_rules.ENABLED:
                repositories().credentials.update(full, {"status": cred_rules.DISABLED})
    token = cred_rules.new_access_token() if kind == "access" else cred_rules.new_api_key()
    cred = repositories().credentials.add({
        "token_hash": cred_rules.hash_token(token), "kind": kind, "user_id": int(user.id), "name": name[:64],
        "preview": cred_rules.preview(token), "unlimited": bool(unlimited), "remaining_quota": remaining,
        "expires_at": expires, "created_at": clock.now_s(), **owner_snapshot(user), "username": user.username,
    })
    if cred is None:  # a random 256-bit token: taken only if the generator is broken
        raise Conflict("a credential with this token already exists; issue again")
    return {"token": token, "kind": kind, "user_id": int(user.id), "preview": cred.preview,
            "token_hash": cred.token_hash, "unlimited": cred.unlimited, "remaining_quota": remaining,
            "expires_at": expires}


def owner_snapshot(user: User) -> dict[str, Any]:
    """The owner's facts every credential carries (authentication is one GetItem, store/models.py)."""
    return {"user_role": int(user.role), "user_status": int(user.status), "user_group": user.group,
            "user_plan": user.plan, "user_timezone": user.timezone}


def revoke_credential(token_or_hash: str) -> dict[str, Any]:
    if not isinstance(token_or_hash, str) or not token_or_hash:
        raise BadInput("token (or token_hash) is required", field="token")
    key = token_or_hash if re.fullmatch(r"[0-9a-f]{64}", token_or_hash) else cred_rules.hash_token(token_or_hash)
    cred = repositories().credentials.by_hash(key)
    if cred is None:
        raise NotFound("no such token")
    repositories().credentials.update(cred, {"status": cred_rules.DISABLED})
    return {"token_hash": key, "status": "revoked"}


def list_credentials(user_id: Any) -> list[dict[str, Any]]:
    user = get_user(user_id)
    out = []
    for c in repositories().credentials.of_user(int(user.id)):
        out.append({"token_hash": c.token_hash, "kind": c.kind, "name": c.name, "preview": c.preview,
                    "status": int(c.status), "unlimited": c.unlimited, "remaining_quota": int(c.remaining_quota),
                    "used_quota": int(c.used_quota), "expires_at": int(c.expires_at)})
    return out


def top_up(user_id: Any, amount: Any, note: str = "") -> dict[str, Any]:
    user = get_user(user_id)
    amount = _int(amount, "amount")
    if amount <= 0:
        raise BadInput("amount must be a positive integer", field="amount")
    quota = repositories().ledger.credit(int(user.id), amount, note=note)
    return {"user_id": int(user.id), "quota": quota}


def update_user(user_id: Any, **changes: Any) -> dict[str, Any]:
    """Change role, status, group, plan or timezone; the owner snapshot on every credential follows."""
    allowed = {"role", "status", "group", "plan", "timezone", "display_name"}
    unknown = set(changes) - allowed
    if unknown:
        raise BadInput(f"unknown fields: {sorted(unknown)}", field=sorted(unknown)[0])
    user = get_user(user_id)
    fields: dict[str, Any] = {}
    if "role" in changes:
        fields["role"] = _int(changes["role"], "role")
        if fields["role"] not in ROLES:
            raise BadInput("role must be 1, 10 or 100", field="role")
    if "status" in changes:
        fields["status"] = _int(changes["status"], "status")
        if fields["status"] not in {1, 2}:
            raise BadInput("status must be 1 (enabled) or 2 (disabled)", field="status")
    if "group" in changes:
        fields["group"] = _text(changes["group"], "group", required=True, limit=64)
    if "plan" in changes:
        _check_plan(changes["plan"])
        fields["plan"] = changes["plan"]
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
        fields["timezone"] = changes["timezone"]
    if "display_name" in changes:
        fields["display_name"] = _text(changes["display_name"], "display_name", limit=64)
    if not fields:
        raise BadInput("nothing to change")
    if not repositories().users.update(user, {**fields, "updated_at": clock.now_s()}):
        raise NotFound(f"user {int(user.id)} not found")
    for cred in repositories().credentials.of_user(int(user.id)):
        repositories().credentials.update(cred, owner_snapshot(user))
    return user_view(user)


# ---------------------------------------------------------------- channels
def _check_base_url(url: Any, *, allow_private: bool) -> str:
    """The URL outbound HTTP will use (parsed as providers.http parses it); an address it would refuse
    (the deny list, providers/addresses.py) is refused here already, unless private upstreams are allowed."""
    from taskcenter.providers import http
    from taskcenter.providers.addresses import refuse_reason_without_dns

    if not isinstance(url, str) or not url:
        raise BadInput("base_url is required", field="base_url")
    if len(url) > MAX_BASE_URL or any(c.isspace() or not c.isprintable() for c in url.strip()):
        raise BadInput(f"base_url must be a URL of at most {MAX_BASE_URL} characters, without spaces or control "
                       "characters", field="base_url")
    try:
        target = http.parse_url(url.strip())
    except http.BadUpstreamUrl as error:  # port 99999, "[::1", ":abc"
        raise BadInput("base_url cannot be parsed as a URL", field="base_url") from error
    except http.RefusedDestination as error:
        raise BadInput("base_url must be an http(s) URL with a host and no credentials", field="base_url") from error
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise BadInput("base_url must not carry a query, fragment or credentials", field="base_url")
    if not allow_private and not http.allowlisted(target.host, target.port):
        reason = refuse_reason_without_dns(target.host)  # a name is vetted again at every call
        if reason:
            raise BadInput(f"base_url points to a {reason}", field="base_url")
    return url.strip().rstrip("/")


def channel_view(ch: Channel) -> dict[str, Any]:
    return {"id": int(ch.id), "type": ch.type, "name": ch.name, "base_url": ch.base_url, "status": int(ch.status),
            "priority": int(ch.priority), "weight": int(ch.weight), "models": list(ch.models or []),
            "devices": list(ch.devices or []), "accounts": list(ch.accounts or []),
            **admin_secrets.view(ch)}


def create_channel(type: str, base_url: str, *, name: str = "", secret: str = "", priority: Any = 0,
                   weight: Any = 1, models: Any = None, devices: Any = None, accounts: Any = None,
                   status: Any = 1) -> dict[str, Any]:
    if type not in CHANNEL_TYPES:
        raise BadInput(f"type must be one of {sorted(CHANNEL_TYPES)}", field="type")
    url = _check_base_url(base_url, allow_private=settings.get().allow_private_upstreams)
    name = _text(name, "name", limit=64)
    priority = _int(priority, "priority")
    weight = _int(weight, "weight", minimum=0)
    status = _int(status, "status")
    if status not in channel_status.SETTABLE:
        raise BadInput("status must be 1 or 2", field="status")
    secret = admin_secrets.check_secret(secret)
    lists = {field: _str_list(value, field) for field, value in
             (("models", models), ("devices", devices), ("accounts", accounts))}
    channel_id = repositories().counters.next_id("channel")
    ref = admin_secrets.store_new(channel_id, secret)  # the value goes to Secrets Manager, the row keeps its name
    try:
        ch = repositories().channels.add({
            "id": channel_id, "type": type, "name": name or f"{type}-channel", "base_url": url, "secret_ref": ref,
            "priority": priority, "weight": weight, **lists, "status": status,
            "created_at": clock.now_s(), "updated_at": clock.now_s()})
    except Exception:
        admin_secrets.forget_new(ref)
        raise
    if ch is None:  # the id came from the sequence: taken only if the sequence was reset
        admin_secrets.forget_new(ref)
        raise Conflict(f"channel {channel_id} already exists; create again")
    return channel_view(ch)


def get_channel(channel_id: Any) -> Channel:
    cid = _int(channel_id, "channel_id", minimum=1)
    channel = repositories().channels.get(cid)
    if channel is None:
        raise NotFound(f"channel {cid} not found")
    return channel


def update_channel(channel_id: Any, **changes: Any) -> dict[str, Any]:
    allowed = {"name", "base_url", "secret", "priority", "weight", "models", "devices", "accounts", "status"}
    unknown = set(changes) - allowed
    if unknown:
        raise BadInput(f"unknown fields: {sorted(unknown)}", field=sorted(unknown)[0])
    ch = get_channel(channel_id)
    fields: dict[str, Any] = {}
    if "base_url" in changes:
        fields["base_url"] = _check_base_url(changes["base_url"], allow_private=settings.get().allow_private_upstreams)
    if "name" in changes:
        fields["name"] = _text(changes["name"], "name", limit=64)
    secret = admin_secrets.check_secret(changes["secret"]) if "secret" in changes else None
    if "priority" in changes:
        fields["priority"] = _int(changes["priority"], "priority")
    if "weight" in changes:
        fields["weight"] = _int(changes["weight"], "weight", minimum=0)
    for field in ("models", "devices", "accounts"):
        if field in changes:
            fields[field] = _str_list(changes[field], field)
    status = None
    if "status" in changes:
        status = _int(changes["status"], "status")
        if status not in channel_status.ALL:
            raise BadInput("status must be 1 (enabled), 2 (disabled) or 3 (deleted)", field="status")
        fields["status"] = status
    if not fields and secret is None:
        raise BadInput("nothing to change")
    # Every field is valid and the row will hold them: now Secrets Manager, then the row (docs/admin.md
    # "Channel secrets"), so a refused update changes no secret
    item_size.require_fits(ch, "channel", fields)
    previous = int(ch.status)
    if status is not None:
        admin_secrets.before_status_change(ch, status)
    if secret is not None:
        fields.update(admin_secrets.secret_changes(ch, secret))
    if not repositories().channels.update(ch, {**fields, "updated_at": clock.now_s()}):
        raise NotFound(f"channel {int(ch.id)} not found")
    admin_secrets.after_status_change(ch, previous)
    return channel_view(ch)


def disable_channel(channel_id: Any) -> dict[str, Any]:
    return update_channel(channel_id, status=channel_status.DISABLED)


def delete_channel(channel_id: Any) -> dict[str, Any]:
    """Channels are soft-deleted (status 3): their in-flight tasks still name them, and are failed and refunded."""
    return update_channel(channel_id, status=channel_status.DELETED)


def migrate_channel_secrets() -> dict[str, Any]:
    """One-shot: plaintext channel secrets into Secrets Manager, removed from the rows (docs/admin.md)."""
    return admin_secrets.migrate(sorted(CHANNEL_TYPES))


def audit(user_id: Any = None) -> dict[str, Any]:
    """Ledger audit: one user, or every user whose ledger moved in the last two days (by_day index)."""
    if user_id is not None:
        ids = [int(get_user(user_id).id)]
    else:
        now = clock.now_ms()
        ids = sorted(repositories().ledger.active_users([day_of(now - 86_400_000), day_of(now)]))
    results = [repositories().ledger.audit(uid) for uid in ids]
    bad = [r for r in results if not r.ok]
    return {
        "checked": len(results),
        "ok": not bad,
        "mismatches": [
            {"user_id": r.user_id, "quota": r.quota, "expected_quota": r.expected_quota,
             "used_quota": r.used_quota, "expected_used_quota": r.charges - r.refunds}
            for r in bad
        ],
    }
