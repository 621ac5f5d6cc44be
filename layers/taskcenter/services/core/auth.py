"""Authentication for the three surfaces: exactly one consistent GetItem on the credentials table.

The credential carries a snapshot of its owner (role, status, group, plan, timezone), kept in step by
the admin operations; the charge transaction re-checks the user's real status and quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from taskcenter import clock
from taskcenter.domain import numbers
from taskcenter.domain.credentials import ENABLED, ROLE_ADMIN, bearer_value, hash_token, is_api_key
from taskcenter.domain.errors import Forbidden, Unauthorized
from taskcenter.store.models import Credential


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
        raise Unauthorized("missing or malformed credentials")
    try:
        cred = Credential.get(hash_token(token), consistent_read=True)
    except DoesNotExist as error:
        raise Unauthorized("invalid token") from error
    if cred.status != ENABLED:
        raise Unauthorized("token has been revoked")
    if cred.expires_at not in (None, -1) and int(cred.expires_at) < clock.now_s():
        raise Unauthorized("token has expired")
    if cred.user_status != ENABLED:
        raise Forbidden("user is disabled")
    return cred


def _principal(cred: Credential) -> Principal:
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
    )


def parse_user_header(value: str | None) -> int | None:
    raw = bearer_value(value)
    if not raw:
        return None
    if not numbers.is_ascii_int(raw) or raw.startswith("-"):  # "²" / "٣" are not ids (docs/decisions.md, "Bad input")
        raise Unauthorized("New-Api-User header is not a user id")
    return int(raw)


def authenticate_dashboard(authorization: str | None, new_api_user: str | None, *, admin: bool = False) -> Principal:
    """Dashboard: access token + New-Api-User (optional `Bearer ` prefix), which must name the token's user."""
    token = bearer_value(authorization)
    if not token:
        raise Unauthorized("not logged in: missing access token")
    if is_api_key(token):
        raise Unauthorized("an API key cannot be used on the dashboard; use your access token")
    user_id = parse_user_header(new_api_user)
    if user_id is None:
        raise Unauthorized("missing New-Api-User header")
    cred = _load(token)
    if cred.kind != "access":
        raise Unauthorized("an API key cannot be used on the dashboard; use your access token")
    if int(cred.user_id) != user_id:
        raise Unauthorized("New-Api-User does not match the access token")
    principal = _principal(cred)
    if admin and not principal.is_admin:
        raise Forbidden("admin role required")
    return principal


def authenticate_relay(authorization: str | None, mj_api_secret: str | None = None) -> Principal:
    """Relay: `Authorization: Bearer sk-...` (Midjourney clients may send the key as `mj-api-secret`)."""
    token = bearer_value(authorization) or bearer_value(mj_api_secret)
    if not token:
        raise Unauthorized("missing API key")
    if not is_api_key(token):
        raise Unauthorized("the relay needs an sk- API key, not an access token")
    cred = _load(token)
    if cred.kind != "key":
        raise Unauthorized("invalid API key")
    return _principal(cred)


def authenticate_any(authorization: str | None, api_key_header: str | None = None) -> Principal:
    """Task API v1: an access token or an API key."""
    token = bearer_value(authorization) or bearer_value(api_key_header)
    if not token:
        raise Unauthorized("missing credentials")
    return _principal(_load(token))
