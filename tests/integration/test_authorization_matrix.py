"""Authorization matrix (issue 7 item 3): every route of the Chalice app x every kind of bad credential.

Routes are read from the app itself, so a new route is covered the moment it exists. Each cell asserts
the HTTP status AND the surface's own error envelope, and the whole matrix must leave every table as it
found it. Owner isolation (another user's task through every route) is in test_owner_isolation.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

# Routes anyone may call: API Gateway serves them without credentials by design.
PUBLIC_ROUTES = {
    ("GET", "/mj/image/{id}"),  # browsers load forwarded images in <img> tags (new-api does the same)
    ("GET", "/openapi.json"),
    ("GET", "/suno/result/{task_id}/{variant}"),  # a kept file's link, public as Suno's own file URLs
    ("GET", "/{mode}/mj/image/{id}"),  # the same route under a mode prefix (issue 14)
}


def _public_by_design(route: Route) -> bool:
    """CORS preflights (browsers send no credentials on them) and the MJ envelope's 404 for unknown paths."""
    return route.method == "OPTIONS" or route.path.startswith("/mj/{a}")


@dataclass(frozen=True, order=True)
class Route:
    method: str
    path: str

    @property
    def surface(self) -> str:
        if self.path.startswith("/api/v1/"):
            return "v1"
        if self.path.startswith("/suno/"):
            return "suno"
        if self.path.startswith(("/mj/", "/{mode}/mj/")):
            return "mj"
        if self.path.startswith("/api/"):
            return "dashboard"
        if self.path.startswith(("/v1/video/", "/kling/")):
            return "newapi"
        if self.path.startswith("/v1/"):
            return "openai"
        return "other"

    @property
    def admin_only(self) -> bool:
        return self.surface == "dashboard" and (re.match(r"^/api/(task|mj|log)/?$", self.path) is not None
                                                or self.path == "/api/log/stat"  # docs/usage-log.md
                                                or self.path.startswith("/api/webhook/user/"))  # docs/webhooks.md

    @property
    def concrete_path(self) -> str:
        return re.sub(r"\{[^}]+\}", "1", self.path.replace("{mode}", "mj-fast"))


def all_routes() -> list[Route]:
    from app import app

    routes = [Route(method, path) for path, methods in app.routes.items() for method in methods]
    return sorted(r for r in routes if (r.method, r.path) not in PUBLIC_ROUTES and r.surface != "other"
                  and not _public_by_design(r))


def assert_envelope(route: Route, status: int, body: dict[str, Any], expected_status: int,
                    headers: dict[str, str] | None = None) -> None:
    """Credential refusals: the dashboard's `{success, message}` (plus new-api's `AUTH_...` code when no
    New-Api-User was sent); on the relays the gateway's `{"error": {...}}` (newapi-relay-wire.md §1.2, §4.1)."""
    where = f"{route.method} {route.path}"
    assert status == expected_status, f"{where}: HTTP {status}, expected {expected_status}: {body}"
    if route.surface == "dashboard":
        assert body.get("success") is False and isinstance(body.get("message"), str) and body["message"], where
        if headers is not None:
            assert ("New-Api-User" in headers) == ("code" not in body), where
            assert "code" not in body or str(body["code"]).startswith("AUTH_"), where
    elif route.surface in ("suno", "mj", "newapi") and status in (401, 403):
        error = body.get("error") or {}
        assert error.get("type") == "new_api_error" and error.get("message") and "code" in error, where
    elif route.surface in ("suno", "newapi"):
        assert isinstance(body.get("code"), str) and body.get("data") is None and body.get("message"), where
    elif route.surface == "mj":
        assert isinstance(body.get("code"), int) and body.get("description") and "type" in body, where
    elif route.surface == "v1":
        assert isinstance(body.get("code"), int) and body["code"] // 100 == expected_status, where
        assert body.get("data") is None and body.get("message"), where
    elif route.surface == "openai":
        error = body.get("error")
        assert isinstance(error, dict) and error.get("message") and error.get("type"), where
        assert set(error) == {"message", "type", "param", "code"}, where


def call(client: Any, route: Route, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body = "{}" if route.method in {"POST", "PUT", "PATCH", "DELETE"} else None
    response = client.http.request(route.method, route.concrete_path, headers={"Content-Type": "application/json",
                                                                                **headers}, body=body)
    try:
        parsed = json.loads(response.body or b"{}")
    except ValueError:
        pytest.fail(f"{route.method} {route.path}: non-JSON error body {response.body[:200]!r}")
    return response.status_code, parsed


@pytest.fixture
def principals(world: Any, frozen_clock: Any) -> dict[str, Any]:
    from taskcenter.services.admin import operations as admin

    from tests.support import make_account

    revoked = make_account("revoked")
    admin.revoke_credential(revoked.access_token)
    admin.revoke_credential(revoked.api_key)
    expired_user = admin.create_user("expired", quota=1_000_000)
    past = frozen_clock.now_s() - 60
    expired = {
        "access": admin.issue_credential(expired_user["id"], "access", expires_at=past)["token"],
        "key": admin.issue_credential(expired_user["id"], "key", expires_at=past)["token"],
        "user_id": expired_user["id"],
    }
    disabled = make_account("disabled")
    admin.update_user(disabled.user_id, status=2)
    starter = make_account("starter", plan="Starter")
    return {"world": world, "revoked": revoked, "expired": expired, "disabled": disabled, "starter": starter}


def _dashboard(token: str, user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "New-Api-User": str(user_id)}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def credential_cells(route: Route, p: dict[str, Any]) -> list[tuple[str, dict[str, str], int]]:
    """(cell name, headers, expected HTTP status) for one route."""
    world, revoked, expired, disabled = p["world"], p["revoked"], p["expired"], p["disabled"]
    user = world.user
    cells: list[tuple[str, dict[str, str], int]] = [
        ("no credentials", {}, 401),
        ("malformed scheme", {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ("garbage token", {"Authorization": "Bearer sk-" + "x" * 40, "New-Api-User": str(user.user_id)}, 401),
        ("oversized token", {"Authorization": "Bearer " + "A" * 5000, "New-Api-User": str(user.user_id)}, 401),
    ]
    if route.surface == "dashboard":
        cells += [
            ("revoked token", _dashboard(revoked.access_token, revoked.user_id), 401),
            ("expired token", _dashboard(expired["access"], expired["user_id"]), 401),
            ("disabled user", _dashboard(disabled.access_token, disabled.user_id), 403),
            ("API key on the dashboard", _dashboard(user.api_key, user.user_id), 401),
            ("New-Api-User of another user", _dashboard(user.access_token, world.other.user_id), 401),
            ("revoked token alone", _bearer(revoked.access_token), 401),
            ("disabled user alone", _bearer(disabled.access_token), 401),  # new-api: AUTH_USER_DISABLED, 401
        ]
        if route.admin_only:
            cells.append(("user on an admin route", _dashboard(user.access_token, user.user_id), 403))
            cells.append(("user alone on an admin route", _bearer(user.access_token), 403))
    elif route.surface in {"suno", "mj", "openai", "newapi"}:
        cells += [
            ("revoked key", _bearer(revoked.api_key), 401),
            ("expired key", _bearer(expired["key"]), 401),
            ("disabled user", _bearer(disabled.api_key), 403),
            ("access token on the relay", _bearer(user.access_token), 401),
        ]
        if route.surface == "mj":
            cells.append(("revoked key as mj-api-secret", {"mj-api-secret": revoked.api_key}, 401))
    elif route.surface == "v1":
        cells += [
            ("revoked token", _bearer(revoked.access_token), 401),
            ("revoked key", _bearer(revoked.api_key), 401),
            ("expired key", _bearer(expired["key"]), 401),
            ("disabled user", _bearer(disabled.api_key), 403),
        ]
        if route.path != "/api/v1/license/check":
            cells.append(("Starter plan (no API access)", _bearer(p["starter"].api_key), 403))
    return cells


def test_every_route_refuses_every_bad_credential_in_its_own_envelope_and_writes_nothing(
        client: Any, principals: dict[str, Any]) -> None:
    from tests.support import snapshot_tables

    routes = all_routes()
    assert any(r.path == "/api/user/self" for r in routes)
    before = snapshot_tables()
    checked = 0
    for route in routes:
        for name, headers, expected in credential_cells(route, principals):
            status, body = call(client, route, headers)
            try:
                assert_envelope(route, status, body, expected, headers)
            except AssertionError as error:
                raise AssertionError(f"[{name}] {error}") from None
            checked += 1
    assert snapshot_tables() == before, "a refused request changed a table"
    assert checked >= 10 * len(routes) // 2


def test_starter_plan_v1_answers_40301_but_license_check_answers_with_the_plan(
        client: Any, principals: dict[str, Any]) -> None:
    starter = principals["starter"]
    v1_routes = [r for r in all_routes() if r.surface == "v1"]
    assert len(v1_routes) >= 10
    for route in v1_routes:
        status, body = call(client, route, _bearer(starter.api_key))
        if route.path == "/api/v1/license/check":
            assert status == 200 and body["data"]["plan_name"] == "Starter" and body["data"]["api_enabled"] is False
        else:
            assert (status, body.get("code")) == (403, 40301), f"{route.method} {route.path}: {status} {body}"


def test_an_unexpected_content_type_is_answered_by_the_route_in_its_envelope_not_by_chalice(
        client: Any, principals: dict[str, Any]) -> None:
    """Regression (found by the fuzzer): Chalice answered 415 in its own shape before the view ran."""
    for route in all_routes():
        for content_type in ("application/xml", "text/html; charset=utf-8", "image/png"):
            status, body = call(client, route, {"Content-Type": content_type})
            assert_envelope(route, status, body, 401)


def test_another_users_usage_log_is_invisible(client: Any, principals: dict[str, Any], frozen_clock: Any) -> None:
    """docs/usage-log.md: /api/log/self and its /stat read the caller's ledger only, whatever they send."""
    from taskcenter.store import money

    # The world's opening top-ups were written at the real time, before the clock was frozen 14 months earlier;
    # the log lists no row later than now + 1 h (docs/usage-log.md, as the task listings): read it at the real time.
    frozen_clock.set_now(int(time.time() * 1000))
    world = principals["world"]
    money.credit_user(world.other.user_id, 777, note="the other user's top-up")
    for path in ("/api/log/self", f"/api/log/self?username={world.other.username}",
                 f"/api/log/self?user_id={world.other.user_id}"):
        status, body = call(client, Route("GET", path), _dashboard(world.user.access_token, world.user.user_id))
        assert status == 200, body
        items = body["data"]["items"]
        assert items and {i["user_id"] for i in items} == {world.user.user_id}, path
        assert all(i["quota"] != 777 for i in items), path
    status, body = call(client, Route("GET", "/api/log/self/stat"),
                        _dashboard(world.other.access_token, world.other.user_id))
    assert status == 200 and body["data"]["quota"] == 0  # top-ups are not consumption; no charge of the user's
