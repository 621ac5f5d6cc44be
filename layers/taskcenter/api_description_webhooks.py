"""The webhook routes' part of the OpenAPI description (docs/webhooks.md); api_description.py merges it,
handing in its own builders (so this module imports nothing from it: no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskcenter.domain.webhook_rules import EVENT_TYPES

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
EVENTS = {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)},
          "description": "event types to receive; empty or absent: all"}


def schemas(obj: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return {
        "WebhookEndpointCreate": obj({"url": {**S, "maxLength": 2000}, "events": EVENTS,
                                      "description": {**S, "maxLength": 200}}, ["url"]),
        "WebhookEndpointUpdate": obj({"url": {**S, "maxLength": 2000}, "events": EVENTS,
                                      "description": {**S, "maxLength": 200},
                                      "status": {"type": "string", "enum": ["enabled", "disabled"]}}),
        "WebhookEndpoint": obj({
            "id": S, "user_id": I, "url": S, "events": EVENTS, "description": S,
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "disabled_reason": S, "created_at": I, "updated_at": I, "secret_preview": S,
            "secret": {**S, "description": "whsec_...: only in the replies to create and rotate"}},
            ["id", "url", "events", "status"]),
        "WebhookAttempt": obj({
            "webhook_id": S, "attempt": I, "at": I, "status_code": {**I, "nullable": True}, "latency_ms": I,
            "outcome": {"type": "string", "enum": ["delivered", "retry", "disable", "dead"]}, "reason": S,
            "next_retry_at": {**I, "nullable": True}}, ["webhook_id", "attempt", "at", "outcome"]),
    }


def operations(op: Callable[..., dict[str, Any]], ref: Callable[[str], dict[str, Any]],
               envelope: Callable[[str, dict[str, Any]], dict[str, Any]],
               path_param: Callable[[str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    one = envelope("dashboard", ref("WebhookEndpoint"))
    many = envelope("dashboard", {"type": "array", "items": ref("WebhookEndpoint")})
    done = envelope("dashboard", {"type": "object", "additionalProperties": True})
    ep, user = [path_param("endpoint_id")], [path_param("user_id")]
    missing = (400, 401, 403, 404)
    return {
        ("GET", "/api/webhook/self"): op("dashboard", "The caller's webhook endpoints", many),
        ("POST", "/api/webhook/self"): op("dashboard", "Add a webhook endpoint (the reply shows its secret once)",
                                          one, body="WebhookEndpointCreate", errors=(400, 401, 403, 409)),
        ("PUT", "/api/webhook/self/{endpoint_id}"): op("dashboard", "Change, enable or disable an endpoint", one,
                                                       params=ep, body="WebhookEndpointUpdate", errors=missing),
        ("POST", "/api/webhook/self/{endpoint_id}/rotate"): op(
            "dashboard", "A new signing secret (the old one still signs for a while)", one, params=ep,
            errors=missing),
        ("DELETE", "/api/webhook/self/{endpoint_id}"): op("dashboard", "Delete an endpoint", done, params=ep,
                                                          errors=missing),
        ("GET", "/api/webhook/self/{endpoint_id}/deliveries"): op(
            "dashboard", "The endpoint's last delivery attempts, newest first",
            envelope("dashboard", {"type": "array", "items": ref("WebhookAttempt")}), params=ep, errors=missing),
        ("POST", "/api/webhook/self/{endpoint_id}/deliveries/{webhook_id}/redeliver"): op(
            "dashboard", "Send a message again (same webhook-id)", done, params=ep + [path_param("webhook_id")],
            errors=(400, 401, 403, 404, 409)),
        ("GET", "/api/webhook/user/{user_id}"): op("dashboard", "A user's webhook endpoints (admin)", many,
                                                   params=user),
        ("PUT", "/api/webhook/user/{user_id}/{endpoint_id}"): op(
            "dashboard", "Change, enable or disable a user's endpoint (admin)", one, params=user + ep,
            body="WebhookEndpointUpdate", errors=missing),
        ("DELETE", "/api/webhook/user/{user_id}/{endpoint_id}"): op(
            "dashboard", "Delete a user's endpoint (admin)", done, params=user + ep, errors=missing),
    }
