"""Domain errors. Each surface maps them to its own envelope and HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. `code` is a stable machine-readable reason; `field` names the bad input, if any."""

    http_status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class BadInput(DomainError):
    http_status = 400
    code = "invalid_request"


class TooLarge(BadInput):
    """What the request would store exceeds a storage limit (DynamoDB's 400 KB item): 413, nothing written."""

    http_status = 413
    code = "request_too_large"


class Unauthorized(DomainError):
    http_status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    http_status = 403
    code = "forbidden"


class NotFound(DomainError):
    http_status = 404
    code = "not_found"


class Conflict(DomainError):
    http_status = 409
    code = "conflict"


class InsufficientQuota(DomainError):
    http_status = 403
    code = "insufficient_user_quota"


class UpstreamUnavailable(DomainError):
    """Every channel tried failed transiently (429/5xx/timeout/connection)."""

    http_status = 502
    code = "upstream_unavailable"


class UpstreamRejected(DomainError):
    """The upstream refused the request (4xx): not retried on another channel."""

    http_status = 400
    code = "upstream_rejected"


class NoChannel(DomainError):
    http_status = 503
    code = "no_available_channel"


class GatewayRefusal(DomainError):
    """Refused by the gateway before any relay handler (key, owner, channel pinning). new-api answers these
    on every relay route in the OpenAI shape `{"error": {"message", "type": "new_api_error", "code"}}`
    (docs/compatibility.md, "Relay authentication")."""

    code = "gateway_refusal"

    def __init__(self, message: str, *, status: int = 401, gateway_code: str = "") -> None:
        super().__init__(message)
        self.http_status = status
        self.gateway_code = gateway_code


class DashboardAuthError(DomainError):
    """A dashboard authentication failure. `auth_code` (AUTH_UNAUTHORIZED, ...) is set for a caller that sent
    no New-Api-User (new-api's dashboard since July 2026 and personal access tokens), which reads it; the older
    dashboard's shape has none (docs/compatibility.md, "Dashboard")."""

    code = "dashboard_auth"

    def __init__(self, message: str, *, status: int, auth_code: str | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.auth_code = auth_code


class Unavailable(DomainError):
    """A dependency is not ready yet (e.g. a listing index still being built during a migration, docs/deploy.md)."""

    http_status = 503
    code = "temporarily_unavailable"
