"""GET /api/user/self: the first route, and the dashboard authentication rules."""

from __future__ import annotations

import json

from taskcenter.services.admin import operations as admin


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
        {"Authorization": h["Authorization"]},
        {**h, "Authorization": "Bearer not-a-token"},
        {**h, "New-Api-User": str(world.other.user_id)},
        {**h, "New-Api-User": "abc"},
        {**h, "Authorization": f"Bearer {world.user.api_key}"},
    ):
        status, body = _get(client, headers)
        assert status == 401, headers
        assert body["success"] is False and body["message"]


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
