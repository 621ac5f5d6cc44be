"""Authentication for the three surfaces: exactly one consistent GetItem on the credentials table.

The credential carries a snapshot of its owner (role, status, group, plan, timezone), kept in step by
the admin operations; the charge transaction re-checks the user's real status and quota. What each
surface accepts and answers is new-api's (docs/compatibility.md, "Relay authentication" and "Dashboard").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskcenter import clock
from taskcenter.domain import numbers
from taskcenter.domain.credentials import API_KEY_PREFIX, ENABLED, ROLE_ADMIN, bearer_value, hash_token, is_api_key
from taskcenter.domain.errors import DashboardAuthError, DomainError, Forbidden, GatewayRefusal, Unauthorized
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Credential

# new-api's relay texts (newapi-relay-wire.md §1): clients and logs match on them.
INVALID_TOKEN = "Invalid token"
USER_BANNED = "User has been banned"
PIN_NOT_ALLOWED = "普通用户不支持指定渠道"  # "common users may not name a channel"
INVALID_CHANNEL = "Invalid channel ID"
CHANNEL_DISABLED = "This channel has been disabled"
MJ_PROXY_SCHEME = "midjourney-proxy"  # `Authorization: midjourney-proxy`: the key is in mj-api-secret

# Why a credential failed -> the code new-api's current dashboard answers (newapi-relay-wire.md §4.1).
_DASHBOARD_CODES = {"token_expired": "AUTH_TOKEN_EXPIRED", "token_revoked": "AUTH_SESSION_REVOKED",
                    "user_disabled": "AUTH_USER_DISABLED", "admin_required": "AUTH_INSUFFICIENT_PRIVILEGE"}


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: int
    group: str
    plan: str
    timezone: str
    token_hash: str
    kind: str  # access | key
    unlimited: bool
    remaining_quota: int
    # `sk-KEY-<id>`: the channel an admin's relay request names (0: none; core/channel_pin.py applies it)
    pinned_channel: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role >= ROLE_ADMIN


def owns(principal: Principal, task: Any, *, platform: str | None = None, kind: str | None = None) -> bool:
    """The one ownership rule of every surface: the task exists, is the caller's, and (when given) is of
    the surface's platform or kind. Anyone else's task is answered as not found (docs/architecture.md)."""
    return (task is not None and int(task.user_id) == principal.user_id
            and (platform is None or task.platform == platform) and (kind is None or task.kind == kind))


def _load(token: str) -> Credential:
    if not token or len(token) > 256:
        raise Unauthorized("missing or malformed credentials", code="token_missing")
    cred = repositories().credentials.by_hash(hash_token(token))
    if cred is None:
        raise Unauthorized("invalid token", code="token_invalid")
    if cred.status != ENABLED:
        raise Unauthorized("token has been revoked", code="token_revoked")
    if cred.expires_at not in (None, -1) and int(cred.expires_at) < clock.now_s():
        raise Unauthorized("token has expired", code="token_expired")
    if cred.user_status != ENABLED:
        raise Forbidden("user is disabled", code="user_disabled")
    return cred


def _principal(cred: Credential, pinned_channel: int = 0) -> Principal:
    return Principal(
        user_id=int(cred.user_id),
        username=cred.username,
        role=int(cred.user_role),
        group=cred.user_group,
        plan=cred.user_plan,
        timezone=cred.user_timezone,
        token_hash=cred.token_hash,
        kind=cred.kind,
        unlimited=bool(cred.unlimited),
        remaining_quota=int(cred.remaining_quota or 0),
        pinned_channel=pinned_channel,
    )


def parse_user_header(value: str | None) -> int | None:
    raw = bearer_value(value)
    if not raw:
        return None
    if not numbers.is_ascii_int(raw) or raw.startswith("-"):  # "²" / "٣" are not ids (docs/decisions.md, "Bad input")
        raise Unauthorized("New-Api-User header is not a user id")
    return int(raw)


def _dashboard_principal(token: str, user_id: int | None, *, admin: bool) -> Principal:
    if not token:
        raise Unauthorized("not logged in: missing access token")
    if is_api_key(token):
        raise Unauthorized("an API key cannot be used on the dashboard; use your access token")
    cred = _load(token)
    if cred.kind != "access":
        raise Unauthorized("an API key cannot be used on the dashboard; use your access token")
    if user_id is not None and int(cred.user_id) != user_id:
        raise Unauthorized("New-Api-User does not match the access token")
    principal = _principal(cred)
    if admin and not principal.is_admin:
        raise Forbidden("admin role required", code="admin_required")
    return principal


def authenticate_dashboard(authorization: str | None, new_api_user: str | None, *, admin: bool = False) -> Principal:
    """Dashboard: an access token (optional `Bearer ` prefix). With `New-Api-User` (new-api's older dashboard,
    scripts copied from its documentation) the header must name the token's user, and errors are
    `{success, message}` with 401/403; without it (new-api's dashboard since July 2026, personal access
    tokens) errors also carry new-api's `AUTH_...` code, with its statuses (docs/compatibility.md)."""
    token = bearer_value(authorization)
    if bearer_value(new_api_user):
        return _dashboard_principal(token, parse_user_header(new_api_user), admin=admin)
    try:
        return _dashboard_principal(token, None, admin=admin)
    except DomainError as error:
        auth_code = _DASHBOARD_CODES.get(error.code, "AUTH_UNAUTHORIZED")
        status = 403 if auth_code == "AUTH_INSUFFICIENT_PRIVILEGE" else 401
        raise DashboardAuthError(error.message, status=status, auth_code=auth_code) from error


def relay_key(authorization: str | None, mj_api_secret: str | None = None) -> tuple[str, str | None]:
    """(key, pinned channel text or None) as new-api's TokenAuth reads them: `Authorization` (optional
    `Bearer `), or `mj-api-secret` when there is none or it says (`Bearer `) `midjourney-proxy`; the `sk-` prefix is
    optional; `KEY-<channel id>` names a channel (newapi-relay-wire.md §1.1)."""
    value = bearer_value((authorization or "").strip())  # `Bearer ` comes off first: `Bearer midjourney-proxy`
    if not value or value.lower() == MJ_PROXY_SCHEME:   # defers to mj-api-secret too (middleware/auth.go)
        value = bearer_value((mj_api_secret or "").strip())
    if value.startswith(API_KEY_PREFIX):
        value = value[len(API_KEY_PREFIX):]
    key, *rest = value.split("-")
    return key, (rest[0] if rest else None)


def authenticate_relay(authorization: str | None, mj_api_secret: str | None = None) -> Principal:
    """Relay: an API key, in any form new-api takes (relay_key); refusals in the gateway's own shape."""
    key, pinned = relay_key(authorization, mj_api_secret)
    if not key:
        raise GatewayRefusal(INVALID_TOKEN)
    try:
        cred = _load(API_KEY_PREFIX + key)  # keys are stored as issued: sk- + 48 alphanumerics
    except Forbidden as error:
        raise GatewayRefusal(USER_BANNED, status=403) from error
    except Unauthorized as error:
        raise GatewayRefusal(INVALID_TOKEN) from error
    if cred.kind != "key":
        raise GatewayRefusal(INVALID_TOKEN)
    if pinned is None:
        return _principal(cred)
    if int(cred.user_role) < ROLE_ADMIN:
        raise GatewayRefusal(PIN_NOT_ALLOWED, status=403)
    if not numbers.is_ascii_int(pinned) or pinned.startswith("-") or int(pinned) <= 0:
        raise GatewayRefusal(INVALID_CHANNEL, status=400)
    return _principal(cred, int(pinned))


def authenticate_any(authorization: str | None, api_key_header: str | None = None) -> Principal:
    """Task API v1: an access token or an API key."""
    token = bearer_value(authorization) or bearer_value(api_key_header)
    if not token:
        raise Unauthorized("missing credentials")
    return _principal(_load(token))
