"""CORS: relay routes answer any origin with any header, as new-api (middleware/cors.go); dashboard routes
only the origins a deployment lists (DASHBOARD_CORS_ORIGINS, template parameter DashboardCorsOrigins).
Task API v1 and the rest send none (their clients are not browsers).

Chalice's CORSConfig carries one static origin and, deployed with Chalice, answers preflights through a
MOCK integration in its own swagger; this app is deployed from template.yaml (SAM events per function)
and needs a per-request origin check for the dashboard, so a preflight is an OPTIONS route of its own
(one small function, `register_preflight`), and `guarded` adds the headers to every reply (errors too).
Browsers cache a preflight for Access-Control-Max-Age. docs/compatibility.md, "CORS".
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Response
from taskcenter import settings

METHODS = "GET,POST,PUT,DELETE,OPTIONS"
MAX_AGE = "7200"  # Chromium's ceiling for a cached preflight
# "*" covers any header except Authorization (Fetch standard), which relays also take: listed as well.
RELAY_ALLOWED_HEADERS = "*,Authorization,Content-Type,mj-api-secret,Idempotency-Key,New-Api-User,x-ptoken,mj-version"
DASHBOARD_ALLOWED_HEADERS = "Authorization,Content-Type,New-Api-User,Idempotency-Key"
EXPOSED = "Idempotent-Replayed,Auth-Version"
_RELAY_PATH = re.compile(r"^/(?:\{mode\}/|mj-[^/]*/)?(?:mj|suno)(?:/|$)")  # /mj, /suno, /{mode}/mj, /mj-fast/mj

PERMISSIONS: dict[str, dict[str, Any]] = {"preflight": {"tables": {}}}  # reads nothing


def header(request: Any, name: str) -> str:
    headers = request.headers or {}
    return headers.get(name) or headers.get(name.lower()) or ""


def surface_of(path: str) -> str:
    """"relay", "dashboard" or "" (no CORS) for a route path."""
    if _RELAY_PATH.match(path):
        return "relay"
    if path.startswith("/api/") and not path.startswith("/api/v1/"):
        return "dashboard"
    return ""


def _allowed_origin(origin: str) -> str:
    allowed = [o.strip().rstrip("/") for o in settings.get().dashboard_cors_origins.split(",") if o.strip()]
    if "*" in allowed:
        return "*"
    return origin if origin and origin.rstrip("/") in allowed else ""


def headers_for(surface: str, request: Any, *, preflight: bool = False) -> dict[str, str]:
    """The CORS headers a reply of `surface` carries for this request ({} when none)."""
    if surface == "relay":
        out = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED}
        if preflight:
            asked = header(request, "Access-Control-Request-Headers") or ""
            out.update({"Access-Control-Allow-Methods": METHODS, "Access-Control-Max-Age": MAX_AGE,
                        "Access-Control-Allow-Headers": ",".join(x for x in (RELAY_ALLOWED_HEADERS, asked) if x)})
        return out
    if surface != "dashboard":
        return {}
    origin = _allowed_origin(header(request, "Origin") or "")
    if not origin:
        return {"Vary": "Origin"}
    out = {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": EXPOSED}
    if origin != "*":
        out["Access-Control-Allow-Credentials"] = "true"
    if preflight:
        out.update({"Access-Control-Allow-Methods": METHODS, "Access-Control-Max-Age": MAX_AGE,
                    "Access-Control-Allow-Headers": DASHBOARD_ALLOWED_HEADERS})
    return out


def add_headers(surface: str, response: Response, request: Any) -> Response:
    """`response` with the CORS headers of `surface` ("mj", "suno", "dashboard"; others get none)."""
    if request is None or surface not in ("mj", "suno", "dashboard"):
        return response
    extra = headers_for("dashboard" if surface == "dashboard" else "relay", request)
    response.headers = {**(response.headers or {}), **extra}
    return response


_app: Any = None  # the app register_preflight served


def preflight(**_path_params: str) -> Response:
    request = _app.current_request
    surface = surface_of(request.context.get("resourcePath") or request.path or "")
    return Response(body="", status_code=204, headers=headers_for(surface, request, preflight=True))


def register_preflight(app: Any) -> None:
    """An OPTIONS route (this module's `preflight`) on every relay and dashboard path of `app`."""
    global _app
    _app = app
    for path in sorted(app.routes):
        if surface_of(path) and "OPTIONS" not in app.routes[path]:
            app.route(path, methods=["OPTIONS"])(preflight)
