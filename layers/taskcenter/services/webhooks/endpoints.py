"""Webhook endpoints of a user: add, list, change, rotate the secret of, disable, delete; the delivery log
and redeliver (docs/webhooks.md). A user sees only their own endpoints (another's is not found); an admin
acts on any user's by naming `user_id` (the admin routes and the admin Lambda's operations).
The signing secret is shown once, in the reply that created or rotated it; it is stored sealed with KMS
(services/webhooks/signing_secrets.py), so these routes may encrypt but never decrypt.
"""

from __future__ import annotations

from typing import Any

from taskcenter import clock, queues, settings
from taskcenter.domain import numbers
from taskcenter.domain import webhook_rules as rules
from taskcenter.domain.errors import BadInput, Conflict, NotFound
from taskcenter.services.webhooks import signing_secrets
from taskcenter.services.webhooks.delivery import delivery_body, webhooks
from taskcenter.store.webhook_repository import DISABLED, ENABLED, Attempt, Endpoint

MAX_ENDPOINTS = 20
MAX_DESCRIPTION = 200
LOG_PAGE = 50


def view(endpoint: Endpoint, *, shown_secret: str | None = None) -> dict[str, Any]:
    """An endpoint as replies show it; `shown_secret` is the plaintext just made (create and rotate only)."""
    out = {"id": endpoint.endpoint_id, "user_id": endpoint.user_id, "url": endpoint.url,
           "events": list(endpoint.events), "description": endpoint.description, "status": endpoint.status,
           "disabled_reason": endpoint.disabled_reason, "created_at": endpoint.created_ms // 1000,
           "updated_at": endpoint.updated_ms // 1000, "secret_preview": signing_secrets.preview(endpoint.secret)}
    if shown_secret is not None:
        out["secret"] = shown_secret
    return out


def attempt_view(attempt: Attempt) -> dict[str, Any]:
    verdict, _, reason = attempt.outcome.partition(": ")
    return {"webhook_id": attempt.webhook_id, "attempt": attempt.attempt, "at": attempt.at_ms // 1000,
            "status_code": attempt.status_code, "latency_ms": attempt.latency_ms, "outcome": verdict,
            "reason": reason, "next_retry_at": None if attempt.next_at_ms is None else attempt.next_at_ms // 1000}


def _body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _description(body: dict[str, Any]) -> str:
    value = body.get("description", "")
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise BadInput(f"description must be text of at most {MAX_DESCRIPTION} characters", field="description")
    return value


MAX_ID_LENGTH = 128  # ours are ~40 characters; DynamoDB refuses a key over 1,024 bytes, reads included (a 500)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _own(user_id: int, endpoint_id: str) -> Endpoint:
    found = webhooks().endpoint(user_id, endpoint_id) if _is_id(endpoint_id) else None
    if found is None:
        raise NotFound("no such webhook endpoint")
    return found


def user_id_of(text: str) -> int:
    """An admin route's user id (a positive integer)."""
    if not numbers.is_ascii_int(text) or not 0 < int(text) < 2**53:
        raise BadInput("user_id must be a positive integer", field="user_id")
    return int(text)


def list_endpoints(user_id: int) -> list[dict[str, Any]]:
    return [view(e) for e in webhooks().endpoints_of(user_id)]


def create(user_id: int, body: Any) -> dict[str, Any]:
    body = _body(body)
    url = rules.check_url(body.get("url"))
    events = rules.parse_events(body.get("events"))
    description = _description(body)
    if len(webhooks().endpoints_of(user_id)) >= MAX_ENDPOINTS:
        raise Conflict(f"at most {MAX_ENDPOINTS} webhook endpoints per user")
    now = clock.now_ms()
    endpoint_id, secret = rules.new_endpoint_id(), rules.new_secret()
    endpoint = Endpoint(endpoint_id=endpoint_id, user_id=user_id, url=url,
                        secret=signing_secrets.seal(user_id, endpoint_id, secret),
                        events=events, description=description, created_ms=now, updated_ms=now)
    webhooks().create_endpoint(endpoint)
    return view(endpoint, shown_secret=secret)


def update(user_id: int, endpoint_id: str, body: Any) -> dict[str, Any]:
    """Change url, events, description or status ("enabled" | "disabled"); enabling clears the reason."""
    body = _body(body)
    _own(user_id, endpoint_id)
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = rules.check_url(body["url"])
    if "events" in body:
        changes["events"] = rules.parse_events(body["events"])
    if "description" in body:
        changes["description"] = _description(body)
    if "status" in body:
        if body["status"] not in (ENABLED, DISABLED):
            raise BadInput("status must be enabled or disabled", field="status")
        changes["status"] = body["status"]
        changes["disabled_reason"] = "disabled by its owner" if body["status"] == DISABLED else None
        if body["status"] == ENABLED:
            changes["failing_since_ms"] = None
    if not changes:
        raise BadInput("nothing to change: give url, events, description or status")
    updated = webhooks().update_endpoint(user_id, endpoint_id, changes)
    if updated is None:
        raise NotFound("no such webhook endpoint")
    return view(updated)


def rotate(user_id: int, endpoint_id: str) -> dict[str, Any]:
    """A new secret; the old one still signs (a second `v1` entry) for WEBHOOK_ROTATION_OVERLAP_SECONDS.
    The old one moves as it is stored (its ciphertext is bound to this endpoint); a legacy plaintext one is
    sealed on the way."""
    current = _own(user_id, endpoint_id)
    overlap = settings.get().webhook_rotation_overlap_seconds * 1000
    secret = rules.new_secret()
    changes: dict[str, Any] = {"secret": signing_secrets.seal(user_id, endpoint_id, secret)}
    # Rotated again within the overlap (a double click): the secret receivers had before the first rotation
    # keeps signing until its overlap ends (found by hostile testing); the one in between, shown once, is dropped.
    if not (current.old_secret and (current.old_secret_until_ms or 0) > clock.now_ms()):
        changes["old_secret"] = current.secret if signing_secrets.is_sealed(current.secret) else \
            signing_secrets.seal(user_id, endpoint_id, current.secret)
        changes["old_secret_until_ms"] = clock.now_ms() + overlap
    updated = webhooks().update_endpoint(user_id, endpoint_id, changes)
    if updated is None:
        raise NotFound("no such webhook endpoint")
    return view(updated, shown_secret=secret)


def delete(user_id: int, endpoint_id: str) -> dict[str, Any]:
    _own(user_id, endpoint_id)
    if not webhooks().delete_endpoint(user_id, endpoint_id):
        raise NotFound("no such webhook endpoint")
    return {"id": endpoint_id, "deleted": True}


def deliveries(user_id: int, endpoint_id: str) -> list[dict[str, Any]]:
    """The last attempts, newest first: status, latency, outcome and reason, next retry."""
    _own(user_id, endpoint_id)
    return [attempt_view(a) for a in webhooks().attempts(endpoint_id, LOG_PAGE)]


def redeliver(user_id: int, endpoint_id: str, webhook_id: str) -> dict[str, Any]:
    """Send a message again from its first attempt (same webhook-id, fresh timestamp and signature)."""
    endpoint = _own(user_id, endpoint_id)
    if endpoint.status != ENABLED:
        raise Conflict("the endpoint is disabled: enable it first")
    repo = webhooks()
    message = repo.message(endpoint_id, webhook_id) if _is_id(webhook_id) else None
    if message is None or message.user_id != user_id:
        raise NotFound("no such message for this endpoint (messages are kept "
                       f"{settings.get().webhook_log_ttl_seconds // 86400} days)")
    repo.reset_message(endpoint_id, webhook_id)
    repo.add_pending(endpoint_id, message.task_id, message.seq)
    queues.send("webhook", delivery_body(message, 1))
    return {"webhook_id": webhook_id, "queued": True}
