"""Idempotent submissions: an `Idempotency-Key` header makes a repeated request return the first answer.

Powertools idempotency with its DynamoDB persistence layer on IDEMPOTENCY_TABLE (store/idempotency_records.py).
The record key is `taskcenter#<scope>#<hash of (user id, header value)>`, so two users' keys never collide; the request
itself is the validation payload, so the same key with a different request is refused (409) instead of
silently answering the first request's result. Only successful answers are kept: a request that
raised (no channel, upstream failure, insufficient quota) leaves no record, and the client may retry
with the same key. A second request arriving while the first is still running gets a 409 too; its
in-progress marker expires with the Lambda's remaining time, so a crashed first attempt does not
block the key for the whole record lifetime.

Used by the Suno relay and usable by any surface:

    reply = idempotency.run_once("suno-submit", user_id=p.user_id, key=header_value,
                                 request={"action": "MUSIC", "body": body}, produce=lambda: {...})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskcenter import settings
from taskcenter.domain.errors import BadInput, Conflict

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class Outcome:
    """`value` is the reply; `replayed` tells whether it came from an earlier request."""

    def __init__(self, value: dict[str, Any], replayed: bool) -> None:
        self.value = value
        self.replayed = replayed


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadInput(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters", field=HEADER)
    return key


class NotKept(Exception):  # noqa: N818 - not an error: a reply that must not be replayed
    """Raised by `produce` with the reply to a request that created and charged nothing (a relayed upstream
    refusal or failure answered as a value): the client gets it, and the key stays free for a retry."""

    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__("a reply not kept for the Idempotency-Key")
        self.value = value


class _Remaining:
    """Stands in for the Lambda context so Powertools sets an in-progress expiry."""

    def __init__(self, seconds: int) -> None:
        self._ms = seconds * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._ms


def run_once(scope: str, *, user_id: int, key: str | None, request: Any,
             produce: Callable[[], dict[str, Any]]) -> Outcome:
    """Run `produce` once per (scope, user, key); later calls with the same key get its first result."""
    key = check_key(key)
    try:
        return _run_once(scope, user_id, key, request, produce)
    except NotKept as unkept:  # Powertools deleted its in-progress record: nothing is kept for the key
        return Outcome(unkept.value, replayed=False)


def _run_once(scope: str, user_id: int, key: str | None, request: Any,
              produce: Callable[[], dict[str, Any]]) -> Outcome:
    if key is None:
        return Outcome(produce(), replayed=False)

    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from taskcenter.store.idempotency_records import persistence_layer  # late, as Powertools: cold start

    ran = {"value": False}
    idempotency_config = IdempotencyConfig(event_key_jmespath="[user, key]", payload_validation_jmespath="request",
                                           raise_on_no_idempotency_key=True,
                                           expires_after_seconds=settings.get().idempotency_ttl_seconds)
    idempotency_config.register_lambda_context(_Remaining(settings.get().idempotency_in_progress_seconds))

    @idempotent_function(data_keyword_argument="call", persistence_store=persistence_layer(), config=idempotency_config,
                         key_prefix=f"taskcenter#{scope}")
    def once(call: dict[str, Any]) -> dict[str, Any]:
        ran["value"] = True
        return produce()

    try:
        value = once(call={"user": int(user_id), "key": key, "request": request})
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict(f"a request with this {HEADER} is still being processed; retry shortly",
                       code="idempotency_in_progress") from error
    except IdempotencyValidationError as error:
        raise Conflict(f"this {HEADER} was already used with a different request",
                       code="idempotency_key_reused") from error
    return Outcome(value, replayed=not ran["value"])
