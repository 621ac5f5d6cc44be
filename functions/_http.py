"""Request parsing and the four response envelopes (dashboard, Suno relay, Midjourney relay, Task API v1).

Each surface answers errors in its own envelope, with a 4xx for bad input. `guarded(surface)` maps
domain errors to that envelope, and turns anything unexpected into the surface's 500 envelope with a
correlation id (never a bare stack trace).
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from chalice import Response
from taskcenter.domain import json_body
from taskcenter.domain.errors import BadInput, DashboardAuthError, DomainError, GatewayRefusal, TooLarge
from taskcenter.observability import flush_metrics, logger

# Chalice refuses unknown content types with its own 415 envelope; accept the usual ones and validate bodies ourselves.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/octet-stream"]

MAX_BODY_BYTES = 256 * 1024

V1_CODES = {400: 40001, 401: 40101, 403: 40300, 404: 40401, 409: 40901, 429: 42901, 502: 50201, 503: 50301}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False, separators=(",", ":")), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


class _LazyModule:
    """Stands for a module and imports it on first attribute access (thread-safe: importlib's import lock
    and this proxy's own lock; importlib.util.LazyLoader is not thread-safe on Python 3.11, and `chalice
    local` serves requests in threads)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)


def lazy_module(name: str) -> Any:
    """`name`, imported on first attribute access.

    app.py registers every blueprint, and API Gateway sends each function only its own route, so a route
    function would otherwise import every other route's services at cold start. Blueprints bind their
    services with this; the one the route uses loads on its first call.
    """
    return sys.modules.get(name) or _LazyModule(name)


# ---------------------------------------------------------------- envelopes
def dashboard_ok(data: Any) -> Response:
    return json_response({"success": True, "message": "", "data": data})


def dashboard_error(message: str, status: int, code: str | None = None) -> Response:
    return json_response({"success": False, **({"code": code} if code else {}), "message": message}, status)


def gateway_error(message: str, status: int, code: str = "") -> Response:
    """new-api's refusals before a relay handler runs (auth, channel pinning), on every relay route."""
    return json_response({"error": {"message": message, "type": "new_api_error", "code": code}}, status)


def suno_ok(data: Any, message: str = "") -> Response:
    return json_response({"code": "success", "message": message, "data": data})


def suno_error(code: str, message: str, status: int) -> Response:
    return json_response({"code": code, "message": message, "data": None}, status)


def mj_error(description: str, code: int, status: int, error_type: str = "upstream_error") -> Response:
    return json_response({"description": description, "type": error_type, "code": code}, status)


def v1_ok(data: Any) -> Response:
    return json_response({"code": 0, "message": "success", "data": data})


def v1_error(code: int, message: str, status: int) -> Response:
    return json_response({"code": code, "message": message, "data": None}, status)


def openai_error(message: str, status: int, code: str | None = None, param: str | None = None) -> Response:
    """The OpenAI API's error envelope (the Videos API surface, docs/video.md)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return json_response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def _error_for(surface: str, err: DomainError) -> Response:
    status = err.http_status
    if surface == "openai":
        return openai_error(err.message, status, err.code, err.field)
    if isinstance(err, GatewayRefusal) and surface in ("suno", "mj", "newapi"):
        return gateway_error(err.message, status, err.gateway_code)
    if surface == "dashboard":
        return dashboard_error(err.message, status, err.auth_code if isinstance(err, DashboardAuthError) else None)
    if surface in ("suno", "newapi"):  # new-api's own envelope (the Suno relay, the video routes)
        return suno_error(err.code, err.message, status)
    if surface == "mj":  # midjourney-proxy's error shape as new-api relays it: type is always "upstream_error"
        mj_code = getattr(err, "mj_code", None) or (4 if status < 500 else 23 if status == 503 else 5)
        return mj_error(err.message, mj_code, status)
    if surface == "v1":
        code = getattr(err, "v1_code", None) or V1_CODES.get(status, 40001 if status < 500 else 50001)
        return v1_error(code, err.message, status)
    return json_response({"error": err.code, "message": err.message, "field": err.field}, status)


def _internal(surface: str, request_id: str) -> Response:
    message = f"internal error (request {request_id})"
    if surface == "dashboard":
        return dashboard_error(message, 500)
    if surface in ("suno", "newapi"):
        return suno_error("internal_error", message, 500)
    if surface == "mj":
        return mj_error(message, 5, 500)
    if surface == "v1":
        return v1_error(50001, message, 500)
    if surface == "openai":
        return openai_error(message, 500, "internal_error")
    return json_response({"error": "internal_error", "message": message}, 500)


def _fitting(response: Response) -> Response:
    """The reply, if Lambda can return it (6 MB as the runtime encodes it: taskcenter.domain.lambda_limits); else
    a 413 in the surface's envelope, where API Gateway would answer a bare 502."""
    from taskcenter.domain import lambda_limits

    if isinstance(response.body, str) and not lambda_limits.response_fits(response.to_dict()):
        raise TooLarge("the reply would be larger than one Lambda response carries (6 MB); "
                       "ask for fewer tasks at once (fewer ids, a smaller page_size)")
    return response


def guarded(surface: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Response:
            try:
                return _fitting(_cors(surface, view(*args, **kwargs)))
            except DomainError as err:
                logger.info("request refused", extra={"surface": surface, "reason": err.code, "detail": err.message})
                return _cors(surface, _error_for(surface, err))
            except Exception:
                request_id = _request_id()
                logger.exception("unhandled error", extra={"surface": surface, "request_id": request_id})
                return _cors(surface, _internal(surface, request_id))
            finally:
                flush_metrics()

        return run

    return wrap


def _cors(surface: str, response: Response) -> Response:
    from functions import cors  # late: only routes that answer load it

    return cors.add_headers(surface, response, getattr(_app, "current_request", None))


_app: Any = None  # the Chalice app serving the routes (app.py binds it; imported from here it would be a cycle)


def bind_app(app: Any) -> None:
    global _app
    _app = app


def current_app() -> Any:
    return _app


def _request_id() -> str:
    try:
        return str(_app.current_request.context.get("requestId", "-"))
    except Exception:
        return "-"


# ---------------------------------------------------------------- parsing
def header(request: Any, name: str) -> str | None:
    headers = request.headers or {}
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def query(request: Any) -> dict[str, str]:
    """Query parameters as a plain dict (last value wins for duplicates)."""
    params = request.query_params or {}
    return {k: params.get(k) for k in params}


def lambda_body_limit(request: Any) -> int:
    """The largest body this request could have carried through API Gateway into Lambda (6 MB for the
    whole event, base64 bodies: taskcenter.domain.lambda_limits), computed from this request's own event."""
    from taskcenter.domain import lambda_limits

    event = request.to_original_event() if hasattr(request, "to_original_event") else {}
    app = current_app()
    return lambda_limits.body_limit(event, base64_bodies=bool(app is not None and app.api.binary_types))


def json_object(request: Any, *, required: bool = True, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object. Empty body -> {} when not required; anything else malformed -> BadInput.

    `max_bytes`: the surface's cap (default MAX_BODY_BYTES); the MJ relay passes lambda_body_limit."""
    raw = request.raw_body or b""
    limit = MAX_BODY_BYTES if max_bytes is None else max_bytes
    if len(raw) > limit:
        raise TooLarge(f"request body larger than {limit:,} bytes (the most this API accepts on this route)")
    if not raw.strip():
        if required:
            raise BadInput("request body must be a JSON object")
        return {}
    body = json_body.loads(raw)  # strict and bounded: no NaN, huge integers or deep nesting (BadInput)
    if not isinstance(body, dict):
        raise BadInput("request body must be a JSON object")
    return body


def base_url(request: Any) -> str:
    """PUBLIC_BASE_URL, else what the request came in on (API Gateway: domain + stage): the base of the links
    a reply gives (/mj/image/{id}, /suno/result/{id}/{variant})."""
    from taskcenter import settings

    configured = settings.get().public_base_url
    if configured:
        return configured
    context = request.context or {}
    host = context.get("domainName") or header(request, "Host") or ""
    if not host:
        return ""
    proto = (header(request, "X-Forwarded-Proto") or ("https" if context.get("domainName") else "http"))
    proto = proto.split(",")[0].strip()
    stage = context.get("stage") or ""
    prefix = f"/{stage}" if stage and ".execute-api." in host else ""
    return f"{proto}://{host}{prefix}"
