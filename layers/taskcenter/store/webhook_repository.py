"""Webhook storage behind an intent-named interface (docs/webhooks.md, docs/repositories.md): endpoints per
user, one message per (event, endpoint), the delivery log, and each task's undelivered sequence numbers.
One table (`WebhookItem`, store/models.py); every call is a GetItem, a conditional write or a Query on a
key. The in-memory twin is store/webhook_memory.py; tests/webhook_repository_contract.py runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from taskcenter import clock, settings
from taskcenter.store.models import WebhookItem

ENABLED, DISABLED = "enabled", "disabled"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
SETTLED_CLAIM = 2**62  # a settled attempt's claim never expires: only the next attempt may claim the message
# A signing secret is stored sealed (services/webhooks/signing_secrets.py: `kms1:<fingerprint>:<ciphertext>`);
# the repositories refuse to write anything else there, so no code path can store a plaintext whsec_ again.
SEALED_PREFIX = "kms1:"
SECRET_FIELDS = ("secret", "old_secret")
ENDPOINT_FIELDS = ("url", "secret", "old_secret", "old_secret_until_ms", "events", "description", "status",
                   "disabled_reason", "failing_since_ms")


@dataclass
class Endpoint:
    endpoint_id: str
    user_id: int
    url: str
    secret: str  # the stored (sealed) form; a row written before encryption may still hold the plaintext
    events: list[str] = field(default_factory=list)
    description: str = ""
    status: str = ENABLED
    disabled_reason: str = ""
    failing_since_ms: int | None = None
    old_secret: str | None = None
    old_secret_until_ms: int | None = None
    created_ms: int = 0
    updated_ms: int = 0


@dataclass
class Message:
    endpoint_id: str
    webhook_id: str
    user_id: int
    event_type: str
    task_id: str
    seq: int
    body: str
    url: str = ""  # set for a task's own hook (notifyHook); endpoint messages use the endpoint's URL
    status: str = PENDING
    attempts: int = 0
    next_at_ms: int = 0
    created_ms: int = 0
    claim_until_ms: int = 0  # while an attempt is being sent; SETTLED_CLAIM once it was settled


@dataclass
class Attempt:
    endpoint_id: str
    webhook_id: str
    attempt: int
    at_ms: int
    status_code: int | None
    latency_ms: int
    outcome: str  # delivered | retry | disable | dead, with the reason after a colon
    next_at_ms: int | None = None


class WebhookRepository(Protocol):
    def create_endpoint(self, endpoint: Endpoint) -> None: ...
    def endpoint(self, user_id: int, endpoint_id: str) -> Endpoint | None: ...
    def endpoints_of(self, user_id: int) -> list[Endpoint]:
        """Every endpoint of a user (one Query; a user has a handful)."""
    def update_endpoint(self, user_id: int, endpoint_id: str, changes: dict[str, Any]) -> Endpoint | None:
        """Set ENDPOINT_FIELDS (None removes); None when there is no such endpoint."""
    def swap_secrets(self, user_id: int, endpoint_id: str, before: dict[str, str | None],
                     after: dict[str, str | None]) -> bool:
        """Set SECRET_FIELDS to `after` only if they still hold `before` (None: absent); False otherwise
        (a concurrent rotation wins). Seals a legacy plaintext row."""
    def delete_endpoint(self, user_id: int, endpoint_id: str) -> bool: ...
    def put_message(self, message: Message) -> bool:
        """Write a new message; False if it exists (a repeated fan-out: nothing written)."""
    def message(self, endpoint_id: str, webhook_id: str) -> Message | None: ...
    def claim_attempt(self, endpoint_id: str, webhook_id: str, attempt: int, lease_ms: int) -> bool:
        """Claim attempt `attempt` of a pending message: True for one caller (a duplicate SQS delivery gets
        False); a claim whose lease ran out (a crashed worker) may be taken again."""
    def settle_message(self, endpoint_id: str, webhook_id: str, status: str, next_at_ms: int = 0) -> None: ...
    def reset_message(self, endpoint_id: str, webhook_id: str) -> bool:
        """Redeliver: back to pending with no attempts. False if there is no such message."""
    def log_attempt(self, attempt: Attempt) -> None: ...
    def attempts(self, endpoint_id: str, limit: int) -> list[Attempt]:
        """The last `limit` attempts, newest first (one Query, whatever the log's length)."""
    def add_pending(self, endpoint_id: str, task_id: str, seq: int) -> None: ...
    def remove_pending(self, endpoint_id: str, task_id: str, seq: int) -> None: ...
    def pending(self, endpoint_id: str, task_id: str) -> set[int]: ...


def check_sealed(values: dict[str, Any]) -> None:
    """Refuse to store a secret that is not sealed (a programming error, never user input)."""
    for name in SECRET_FIELDS:
        value = values.get(name)
        if value is not None and not (isinstance(value, str) and value.startswith(SEALED_PREFIX)):
            raise ValueError(f"webhook {name} must be stored sealed ({SEALED_PREFIX}...)")


def expiry() -> datetime:
    return datetime.fromtimestamp(clock.now_s() + settings.get().webhook_log_ttl_seconds, tz=UTC)


def attempt_key(attempt: Attempt) -> str:
    return f"{attempt.at_ms:013d}#{attempt.webhook_id}#{attempt.attempt:03d}"


def _endpoint(item: WebhookItem) -> Endpoint:
    return Endpoint(endpoint_id=item.sk[3:], user_id=int(item.user_id), url=item.url or "", secret=item.secret or "",
                    events=list(item.events or []), description=item.description or "",
                    status=item.status or ENABLED, disabled_reason=item.disabled_reason or "",
                    failing_since_ms=None if item.failing_since_ms is None else int(item.failing_since_ms),
                    old_secret=item.old_secret,
                    old_secret_until_ms=None if item.old_secret_until_ms is None else int(item.old_secret_until_ms),
                    created_ms=int(item.created_ms or 0), updated_ms=int(item.updated_ms or 0))


def _message(item: WebhookItem) -> Message:
    return Message(endpoint_id=item.pk[4:], webhook_id=item.sk, user_id=int(item.user_id or 0),
                   event_type=item.event_type or "", task_id=item.task_id or "", seq=int(item.seq or 0),
                   body=item.body or "", url=item.url or "", status=item.status or PENDING,
                   attempts=int(item.attempts or 0), next_at_ms=int(item.next_at_ms or 0),
                   created_ms=int(item.created_ms or 0), claim_until_ms=int(item.claim_until_ms or 0))


def _attempt(item: WebhookItem) -> Attempt:
    _, webhook_id, number = item.sk.split("#")
    return Attempt(endpoint_id=item.pk[4:], webhook_id=webhook_id, attempt=int(number),
                   at_ms=int(item.created_ms or 0),
                   status_code=None if item.status_code is None else int(item.status_code),
                   latency_ms=int(item.latency_ms or 0), outcome=item.outcome or "",
                   next_at_ms=None if item.next_at_ms is None else int(item.next_at_ms))


def _get(pk: str, sk: str) -> WebhookItem | None:
    try:
        return WebhookItem.get(pk, sk, consistent_read=True)
    except DoesNotExist:
        return None


class PynamoWebhooks:
    def create_endpoint(self, endpoint: Endpoint) -> None:
        check_sealed({"secret": endpoint.secret})
        WebhookItem(f"user#{endpoint.user_id}", f"ep#{endpoint.endpoint_id}", user_id=endpoint.user_id,
                    url=endpoint.url, secret=endpoint.secret, events=list(endpoint.events),
                    description=endpoint.description, status=endpoint.status, created_ms=endpoint.created_ms,
                    updated_ms=endpoint.updated_ms).save(condition=WebhookItem.pk.does_not_exist())

    def endpoint(self, user_id: int, endpoint_id: str) -> Endpoint | None:
        item = _get(f"user#{user_id}", f"ep#{endpoint_id}")
        return _endpoint(item) if item is not None else None

    def endpoints_of(self, user_id: int) -> list[Endpoint]:
        query = WebhookItem.query(f"user#{user_id}", WebhookItem.sk.startswith("ep#"), consistent_read=True)
        return [_endpoint(item) for item in query]

    def update_endpoint(self, user_id: int, endpoint_id: str, changes: dict[str, Any]) -> Endpoint | None:
        check_sealed(changes)
        item = WebhookItem(f"user#{user_id}", f"ep#{endpoint_id}")
        actions = [WebhookItem.updated_ms.set(clock.now_ms())]
        for name in ENDPOINT_FIELDS:
            if name in changes:
                attribute = getattr(WebhookItem, name)
                value = changes[name]
                actions.append(attribute.remove() if value is None else attribute.set(value))
        try:
            item.update(actions=actions, condition=WebhookItem.pk.exists())
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return _endpoint(item)

    def swap_secrets(self, user_id: int, endpoint_id: str, before: dict[str, str | None],
                     after: dict[str, str | None]) -> bool:
        check_sealed(after)
        condition = WebhookItem.pk.exists()
        actions = []
        for name in SECRET_FIELDS:
            attribute = getattr(WebhookItem, name)
            expected = before.get(name)
            condition &= attribute.does_not_exist() if expected is None else attribute == expected
            value = after.get(name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        try:
            WebhookItem(f"user#{user_id}", f"ep#{endpoint_id}").update(actions=actions, condition=condition)
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_endpoint(self, user_id: int, endpoint_id: str) -> bool:
        try:
            WebhookItem(f"user#{user_id}", f"ep#{endpoint_id}").delete(condition=WebhookItem.pk.exists())
        except DeleteError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_message(self, message: Message) -> bool:
        item = WebhookItem(f"msg#{message.endpoint_id}", message.webhook_id, user_id=message.user_id,
                           event_type=message.event_type, task_id=message.task_id, seq=message.seq,
                           body=message.body, url=message.url or None, status=message.status, attempts=0,
                           next_at_ms=message.next_at_ms, created_ms=message.created_ms, expires_at=expiry())
        try:
            item.save(condition=WebhookItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def message(self, endpoint_id: str, webhook_id: str) -> Message | None:
        item = _get(f"msg#{endpoint_id}", webhook_id)
        return _message(item) if item is not None else None

    def claim_attempt(self, endpoint_id: str, webhook_id: str, attempt: int, lease_ms: int) -> bool:
        now = clock.now_ms()
        fresh = WebhookItem.attempts == attempt - 1
        expired = (WebhookItem.attempts == attempt) & (WebhookItem.claim_until_ms < now)
        try:
            WebhookItem(f"msg#{endpoint_id}", webhook_id).update(
                actions=[WebhookItem.attempts.set(attempt), WebhookItem.claim_until_ms.set(now + lease_ms)],
                condition=WebhookItem.pk.exists() & (WebhookItem.status == PENDING) & (fresh | expired))
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def settle_message(self, endpoint_id: str, webhook_id: str, status: str, next_at_ms: int = 0) -> None:
        WebhookItem(f"msg#{endpoint_id}", webhook_id).update(actions=[
            WebhookItem.status.set(status), WebhookItem.next_at_ms.set(next_at_ms),
            WebhookItem.claim_until_ms.set(SETTLED_CLAIM)])

    def reset_message(self, endpoint_id: str, webhook_id: str) -> bool:
        try:
            WebhookItem(f"msg#{endpoint_id}", webhook_id).update(actions=[
                WebhookItem.status.set(PENDING), WebhookItem.attempts.set(0), WebhookItem.next_at_ms.set(0),
                WebhookItem.claim_until_ms.set(0), WebhookItem.expires_at.set(expiry())],
                condition=WebhookItem.pk.exists())
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def log_attempt(self, attempt: Attempt) -> None:
        WebhookItem(f"log#{attempt.endpoint_id}", attempt_key(attempt), created_ms=attempt.at_ms,
                    status_code=attempt.status_code, latency_ms=attempt.latency_ms, outcome=attempt.outcome,
                    next_at_ms=attempt.next_at_ms, expires_at=expiry()).save()

    def attempts(self, endpoint_id: str, limit: int) -> list[Attempt]:
        query = WebhookItem.query(f"log#{endpoint_id}", scan_index_forward=False, limit=limit)
        return [_attempt(item) for item in query]

    def add_pending(self, endpoint_id: str, task_id: str, seq: int) -> None:
        WebhookItem(f"seq#{endpoint_id}", task_id).update(
            actions=[WebhookItem.pending.add({seq}), WebhookItem.expires_at.set(expiry())])

    def remove_pending(self, endpoint_id: str, task_id: str, seq: int) -> None:
        WebhookItem(f"seq#{endpoint_id}", task_id).update(actions=[WebhookItem.pending.delete({seq})])

    def pending(self, endpoint_id: str, task_id: str) -> set[int]:
        item = _get(f"seq#{endpoint_id}", task_id)
        return {int(v) for v in (item.pending or ())} if item is not None else set()
