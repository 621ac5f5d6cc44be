"""The admin operations table: one op name -> one function, shared by the admin Lambda and the CLI.

An operation is a JSON object such as `{"op": "top_up", "user_id": 2, "amount": 500000}` (what an
operator pastes into the AWS console's Test tab, or what `python -m infra.admin_cli` builds).
`run(event)` never raises for bad input; it answers

    {"ok": true, "result": ...}
    {"ok": false, "error": "<code>", "message": "...", "field": "<name or null>"}

Fields are checked here (unknown fields, missing required fields, JSON types) before the service in
`taskcenter.services.admin.operations` validates values; both happen before any write, so bad input changes nothing.
docs/admin.md documents every operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskcenter.domain import json_body
from taskcenter.domain.errors import BadInput, DomainError, NotFound
from taskcenter.observability import logger
from taskcenter.services.admin import operations as admin
from taskcenter.store.repositories import current as repositories

# JSON types a field may take. "int" also accepts a string of digits (console users type "2").
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int, str),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
}

_USER_FIELDS = {"role": "int", "status": "int", "group": "str", "plan": "str", "timezone": "str",
                "display_name": "str"}
_CHANNEL_FIELDS = {"name": "str", "base_url": "str", "secret": "str", "priority": "int", "weight": "int",
                   "models": "list", "devices": "list", "accounts": "list", "status": "int"}


@dataclass(frozen=True)
class Op:
    run: Callable[..., Any]
    summary: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- operations not in services.admin
def _resolve_user_id(user_id: Any = None, username: Any = None) -> int:
    """A user id from `user_id`, or from `username` through its uniqueness guard (one GetItem, no scan)."""
    if user_id is not None:
        return int(admin.get_user(user_id).id)
    if username is None:
        raise BadInput("user_id or username is required", field="user_id")
    user_id = repositories().users.id_of(str(username))
    if user_id is None:
        raise NotFound(f"user {username!r} not found")
    return user_id


def _get_user(user_id: Any = None, username: Any = None) -> dict[str, Any]:
    return admin.user_view(admin.get_user(_resolve_user_id(user_id, username)))


def _issue_key(user_id: Any, name: str = "", remaining_quota: Any = None, unlimited: bool | None = None,
               expires_at: Any = -1) -> dict[str, Any]:
    # A key given a remaining_quota is limited to it unless the operator says otherwise.
    if unlimited is None:
        unlimited = remaining_quota is None
    return admin.issue_credential(user_id, "key", name=name, unlimited=unlimited,
                                  remaining_quota=0 if remaining_quota is None else remaining_quota,
                                  expires_at=expires_at)


def _issue_access_token(user_id: Any, name: str = "", expires_at: Any = -1) -> dict[str, Any]:
    return admin.issue_credential(user_id, "access", name=name, expires_at=expires_at)


def _revoke(token: Any = None, token_hash: Any = None) -> dict[str, Any]:
    return admin.revoke_credential(token if token is not None else token_hash)


def _set_plan(user_id: Any, plan: str) -> dict[str, Any]:
    return admin.update_user(user_id, plan=plan)


def _list_credentials(user_id: Any = None, username: Any = None) -> list[dict[str, Any]]:
    return admin.list_credentials(_resolve_user_id(user_id, username))


def _get_channel(channel_id: Any) -> dict[str, Any]:
    return admin.channel_view(admin.get_channel(channel_id))


def _list_channels(type: str | None = None) -> list[dict[str, Any]]:
    """Channels of one type, or of every type: one Query per type on the by_type index."""
    if type is not None and type not in admin.CHANNEL_TYPES:
        raise BadInput(f"type must be one of {sorted(admin.CHANNEL_TYPES)}", field="type")
    types = [type] if type else sorted(admin.CHANNEL_TYPES)
    return [admin.channel_view(ch) for t in types for ch in repositories().channels.of_type(t)]


def _audit(user_id: Any = None) -> dict[str, Any]:
    return admin.audit(user_id)


OPS: dict[str, Op] = {
    "create_user": Op(
        admin.create_user, "create a user (optionally with starting quota)",
        {"username": "str"},
        {"quota": "int", "role": "int", "group": "str", "plan": "str", "timezone": "str", "display_name": "str"}),
    "get_user": Op(_get_user, "show one user by id or username", {}, {"user_id": "int", "username": "str"}),
    "update_user": Op(admin.update_user, "change role, status, group, plan, timezone or display name",
                      {"user_id": "int"}, dict(_USER_FIELDS)),
    "set_plan": Op(_set_plan, "set a user's Task API plan (Starter, Pro, Team, Business)",
                   {"user_id": "int", "plan": "str"}),
    "top_up": Op(admin.top_up, "add quota to a user (ledger credit)", {"user_id": "int", "amount": "int"},
                 {"note": "str"}),
    "issue_key": Op(_issue_key, "issue an sk- API key (shown once)", {"user_id": "int"},
                    {"name": "str", "remaining_quota": "int", "unlimited": "bool", "expires_at": "int"}),
    "issue_access_token": Op(_issue_access_token, "issue the user's dashboard access token (revokes the old one)",
                             {"user_id": "int"}, {"name": "str", "expires_at": "int"}),
    "revoke": Op(_revoke, "revoke an access token or API key (by plaintext or token_hash)", {},
                 {"token": "str", "token_hash": "str"}),
    "list_credentials": Op(_list_credentials, "a user's tokens and keys (previews and hashes, never plaintext)",
                           {}, {"user_id": "int", "username": "str"}),
    "create_channel": Op(admin.create_channel, "register an upstream provider", {"type": "str", "base_url": "str"},
                         {k: v for k, v in _CHANNEL_FIELDS.items() if k != "base_url"}),
    "get_channel": Op(_get_channel, "show one channel", {"channel_id": "int"}),
    "list_channels": Op(_list_channels, "channels of one type, or all", {}, {"type": "str"}),
    "update_channel": Op(admin.update_channel, "change a channel", {"channel_id": "int"}, dict(_CHANNEL_FIELDS)),
    "disable_channel": Op(admin.disable_channel, "stop routing new tasks to a channel", {"channel_id": "int"}),
    "delete_channel": Op(admin.delete_channel, "soft-delete a channel (its in-flight tasks fail and are refunded)",
                         {"channel_id": "int"}),
    "migrate_channel_secrets": Op(admin.migrate_channel_secrets,
                                  "move plaintext channel secrets into Secrets Manager (one-shot, repeatable)", {}),
    "audit": Op(_audit, "check quota == credits - charges + refunds (one user, or users active in 2 days)", {},
                {"user_id": "int"}),
}


def _check_fields(name: str, op: Op, args: dict[str, Any]) -> None:
    known = {**op.required, **op.optional}
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise BadInput(f"{name}: unknown field(s) {unknown}; allowed: {sorted(known)}", field=unknown[0])
    for key in op.required:
        if args.get(key) is None:
            raise BadInput(f"{name}: field {key!r} is required", field=key)
    for key, value in args.items():
        kind = known[key]
        if value is None and key not in op.required:
            continue
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, _TYPES[kind]):
            raise BadInput(f"{name}: field {key!r} must be a JSON {'integer' if kind == 'int' else kind}"
                           f" (got {type(value).__name__})", field=key)
    # a console Test event is JSON the Lambda runtime parsed: "\ud800" reaches us as a lone surrogate, which no
    # table, secret or log line can take (domain/json_body.py)
    json_body.depth_of(args, on_strings=json_body.refuse_lone_surrogates)
    if name == "revoke" and not (args.get("token") or args.get("token_hash")):
        raise BadInput("revoke: 'token' or 'token_hash' is required", field="token")


def error_reply(code: str, message: str, field_name: str | None = None) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message, "field": field_name}


def run(event: Any) -> dict[str, Any]:
    """Run one admin operation. Never raises for bad input (see the module docstring for the reply shape)."""
    if not isinstance(event, dict):
        return error_reply("invalid_request", "the event must be a JSON object with an 'op' field", "op")
    args = dict(event)
    name = args.pop("op", None)
    if not isinstance(name, str) or name not in OPS:
        return error_reply("unknown_op", f"unknown op {name!r}; one of: {', '.join(sorted(OPS))}", "op")
    op = OPS[name]
    try:
        _check_fields(name, op, args)
        result = op.run(**args)
    except DomainError as err:
        logger.info("admin operation refused", extra={"op": name, "reason": err.code, "detail": err.message})
        return error_reply(err.code, err.message, err.field)
    except Exception:
        # Unexpected (AWS outage, a bug): logged with its stack; the operator gets a reply, not a trace.
        logger.exception("admin operation failed", extra={"op": name})
        return error_reply("internal_error", f"{name} failed unexpectedly; see the function's logs")
    logger.info("admin operation", extra={"op": name})
    return {"ok": True, "result": result}
