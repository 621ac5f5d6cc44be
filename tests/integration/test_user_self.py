"""GET /api/user/self: the first route, and the dashboard authentication rules."""

from __future__ import annotations

import json

from taskcenter.services.admin import operations as admin

from tests.support import make_account


def _get(client, headers):
    r = client.http.get("/api/user/self", headers=headers)
    return r.status_code, json.loads(r.body)


def test_returns_the_callers_account_in_the_dashboard_envelope(client, world):
    status, body = _get(client, world.user.dashboard_headers())
    assert status == 200
    assert body["success"] is True and body["message"] == ""
    data = body["data"]
    assert data["id"] == world.user.user_id and data["username"] == "alice"
    assert data["quota"] == 10_000_000 and data["used_quota"] == 0 and data["role"] == 1
    assert data["group"] == "default" and data["request_count"] == 0


def test_new_api_user_header_with_and_without_bearer_prefix(client, world):
    assert _get(client, world.user.dashboard_headers(with_bearer_prefix=False))[0] == 200
    assert _get(client, world.user.dashboard_headers(with_bearer_prefix=True))[0] == 200


def test_missing_or_bad_credentials_are_401(client, world):
    h = world.user.dashboard_headers()
    for headers in (
        {},
        {"New-Api-User": h["New-Api-User"]},
        {**h, "Authorization": "Bearer not-a-token"},
        {**h, "New-Api-User": str(world.other.user_id)},
        {**h, "New-Api-User": "abc"},
        {**h, "Authorization": f"Bearer {world.user.api_key}"},
    ):
        status, body = _get(client, headers)
        assert status == 401, headers
        assert body["success"] is False and body["message"]


def test_the_access_token_alone_is_enough_and_errors_carry_new_apis_auth_codes(client, world, frozen_clock):
    """Regression (issue 14): new-api's dashboard since July 2026 and every personal-access-token script send
    only `Authorization: Bearer <token>`; that was a 401. Without New-Api-User the errors are the current
    dashboard's `{success, code: AUTH_..., message}` with its statuses (newapi-relay-wire.md §4.1)."""
    token = world.user.access_token
    for authorization in (f"Bearer {token}", f"bearer {token}", token):
        status, body = _get(client, {"Authorization": authorization})
        assert status == 200 and body["data"]["id"] == world.user.user_id, authorization
    assert _get(client, {"Authorization": f"Bearer {token}", "New-Api-User": ""})[0] == 200  # empty = absent

    expired = admin.issue_credential(world.other.user_id, "access", expires_at=frozen_clock.now_s() - 1)["token"]
    disabled = make_account("banned")
    admin.update_user(disabled.user_id, status=2)
    revoked = make_account("revoked")
    admin.revoke_credential(revoked.access_token)
    for headers, want_status, want_code in (
        ({}, 401, "AUTH_UNAUTHORIZED"),
        ({"Authorization": "Bearer not-a-token"}, 401, "AUTH_UNAUTHORIZED"),
        ({"Authorization": f"Bearer {world.user.api_key}"}, 401, "AUTH_UNAUTHORIZED"),
        ({"Authorization": f"Bearer {expired}"}, 401, "AUTH_TOKEN_EXPIRED"),
        ({"Authorization": f"Bearer {revoked.access_token}"}, 401, "AUTH_SESSION_REVOKED"),
        ({"Authorization": f"Bearer {disabled.access_token}"}, 401, "AUTH_USER_DISABLED"),
    ):
        status, body = _get(client, headers)
        assert (status, body.get("code"), body["success"]) == (want_status, want_code, False), headers
        assert body["message"]
    reply = client.http.get("/api/task", headers={"Authorization": f"Bearer {token}"})  # admin route, common user
    assert reply.status_code == 403 and json.loads(reply.body)["code"] == "AUTH_INSUFFICIENT_PRIVILEGE"
    # With New-Api-User (the older dashboard, scripts from its documentation) it must still match, and the
    # errors keep that dashboard's shape: no code.
    status, body = _get(client, {"Authorization": f"Bearer {token}", "New-Api-User": str(world.other.user_id)})
    assert status == 401 and "code" not in body and body["success"] is False


def test_revoked_and_expired_tokens_are_401(client, world):
    admin.revoke_credential(world.user.access_token)
    assert _get(client, world.user.dashboard_headers())[0] == 401
    fresh = admin.issue_credential(world.other.user_id, "access", expires_at=1)
    status, body = _get(client, {"Authorization": f"Bearer {fresh['token']}", "New-Api-User": str(world.other.user_id)})
    assert status == 401 and "expired" in body["message"]


def test_disabled_user_is_403(client, world):
    admin.update_user(world.user.user_id, status=2)
    status, body = _get(client, world.user.dashboard_headers())
    assert status == 403 and body["success"] is False


def test_authentication_is_one_read(client, world, dynamodb_calls):
    _get(client, world.user.dashboard_headers())
    reads = [c for c in dynamodb_calls if c[0] in {"GetItem", "Query", "BatchGetItem", "Scan"}]
    # one read to authenticate, one for the account itself
    assert [c[0] for c in reads] == ["GetItem", "GetItem"]
    assert reads[0][1].endswith("credentials")
