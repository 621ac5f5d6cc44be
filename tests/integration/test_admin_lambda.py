"""The admin Lambda driven with console-shaped Test events (docs/admin.md): every op, and bad input.

Bad input must answer {"ok": false, "error", "message", "field"} and leave every table unchanged.
"""

from __future__ import annotations

import json

import pytest
from taskcenter.domain.credentials import hash_token
from taskcenter.services.admin import operation_specs as admin_ops
from taskcenter.store.models import Channel, Credential, LedgerEntry, User

from functions.admin import PERMISSIONS, admin_operation
from tests.support import snapshot_tables


def invoke(event: object) -> dict:
    # What the console does: a JSON document, parsed, handed to the handler; the reply must serialise.
    reply = admin_operation(json.loads(json.dumps(event)), None)
    json.dumps(reply)
    return reply


def ok(event: dict) -> object:
    reply = invoke(event)
    assert reply["ok"] is True, reply
    return reply["result"]


def test_permissions_are_declared_for_the_template_generator():
    assert PERMISSIONS["admin_operation"]["tables"] == {
        "users": "rw", "credentials": "rw", "channels": "rw", "ledger": "rw", "counters": "rw"}


def test_handler_is_registered_as_the_admin_lambda():
    from app import app

    assert "admin" in app.handler_map


def test_user_lifecycle_through_console_events(aws):
    user = ok({"op": "create_user", "username": "alice", "quota": 500000})
    uid = user["id"]
    assert user["username"] == "alice" and user["quota"] == 500000 and user["plan"] == "Pro"
    assert ok({"op": "get_user", "user_id": uid})["quota"] == 500000
    assert ok({"op": "get_user", "username": "ALICE"})["id"] == uid  # by name, case-insensitive

    assert ok({"op": "top_up", "user_id": uid, "amount": 250000, "note": "invoice 7"}) == {"user_id": uid,
                                                                                         "quota": 750000}
    assert User.get(uid).quota == 750000
    assert ok({"op": "set_plan", "user_id": uid, "plan": "Team"})["plan"] == "Team"
    changed = ok({"op": "update_user", "user_id": uid, "role": 10, "timezone": "Asia/Shanghai",
                  "display_name": "Alice A."})
    assert (changed["role"], changed["timezone"], changed["display_name"]) == (10, "Asia/Shanghai", "Alice A.")

    audit = ok({"op": "audit", "user_id": uid})
    assert audit == {"checked": 1, "ok": True, "mismatches": []}
    assert ok({"op": "audit"})["checked"] >= 1  # users active in the last two days


def test_credentials_issue_list_and_revoke(aws):
    uid = ok({"op": "create_user", "username": "bob"})["id"]
    key = ok({"op": "issue_key", "user_id": uid, "name": "ci", "remaining_quota": 100000})
    assert key["token"].startswith("sk-") and key["unlimited"] is False and key["remaining_quota"] == 100000
    stored = Credential.get(hash_token(key["token"]))
    assert stored.kind == "key" and stored.name == "ci" and stored.unlimited is False
    unlimited = ok({"op": "issue_key", "user_id": uid})
    assert unlimited["unlimited"] is True

    first = ok({"op": "issue_access_token", "user_id": uid})
    second = ok({"op": "issue_access_token", "user_id": uid})
    assert Credential.get(hash_token(first["token"])).status == 2  # one access token per user
    assert Credential.get(hash_token(second["token"])).status == 1

    listed = ok({"op": "list_credentials", "user_id": uid})
    assert len(listed) == 4 and all("token" not in c for c in listed)  # plaintext is shown once only
    assert {c["kind"] for c in listed} == {"key", "access"}

    assert ok({"op": "revoke", "token": key["token"]})["status"] == "revoked"
    assert Credential.get(hash_token(key["token"])).status == 2
    ok({"op": "revoke", "token_hash": unlimited["token_hash"]})
    assert Credential.get(unlimited["token_hash"]).status == 2


def test_set_plan_reaches_the_credential_snapshot(aws):
    uid = ok({"op": "create_user", "username": "carol"})["id"]
    key = ok({"op": "issue_key", "user_id": uid})
    ok({"op": "set_plan", "user_id": uid, "plan": "Business"})
    ok({"op": "update_user", "user_id": uid, "status": 2})
    cred = Credential.get(key["token_hash"])
    assert cred.user_plan == "Business" and cred.user_status == 2


def test_channel_lifecycle(aws):
    ch = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com/", "secret": "s3cret",
             "priority": 5, "weight": 2, "models": ["chirp-v3-5"]})
    cid = ch["id"]
    assert ch["base_url"] == "https://suno.example.com" and ch["has_secret"] is True and "secret" not in ch
    assert Channel.get(cid).secret_ref == f"taskcenter/local/channel/{cid}"  # the value is in Secrets Manager
    assert ok({"op": "get_channel", "channel_id": cid})["priority"] == 5
    updated = ok({"op": "update_channel", "channel_id": cid, "weight": 7, "models": ["chirp-v4"]})
    assert updated["weight"] == 7 and updated["models"] == ["chirp-v4"]
    assert [c["id"] for c in ok({"op": "list_channels", "type": "suno"})] == [cid]
    assert ok({"op": "disable_channel", "channel_id": cid})["status"] == 2
    assert ok({"op": "delete_channel", "channel_id": cid})["status"] == 3
    assert Channel.get(cid).status == 3  # soft delete: in-flight tasks still name it


@pytest.fixture
def seeded(aws):
    uid = ok({"op": "create_user", "username": "dave", "quota": 1000})["id"]
    cid = ok({"op": "create_channel", "type": "midjourney", "base_url": "https://mj.example.com"})["id"]
    key = ok({"op": "issue_key", "user_id": uid})
    return {"user_id": uid, "channel_id": cid, "key": key["token"]}


def bad_events(s: dict) -> list[tuple[dict | object, str, str | None]]:
    uid, cid = s["user_id"], s["channel_id"]
    return [
        ({"op": "top_up", "user_id": 999, "amount": 10}, "not_found", None),
        ({"op": "top_up", "user_id": uid, "amount": -5}, "invalid_request", "amount"),
        ({"op": "top_up", "user_id": uid, "amount": 0}, "invalid_request", "amount"),
        ({"op": "top_up", "user_id": uid, "amount": 1.5}, "invalid_request", "amount"),
        ({"op": "top_up", "user_id": uid, "amount": True}, "invalid_request", "amount"),
        ({"op": "top_up", "user_id": "two", "amount": 5}, "invalid_request", "user_id"),
        ({"op": "top_up", "user_id": uid}, "invalid_request", "amount"),
        ({"op": "top_up", "user_id": uid, "amount": 5, "ammount": 5}, "invalid_request", "ammount"),
        ({"op": "create_user", "username": "dave"}, "conflict", "username"),
        ({"op": "create_user", "username": "DAVE", "quota": 5}, "conflict", "username"),
        ({"op": "create_user", "username": "x"}, "invalid_request", "username"),
        ({"op": "create_user", "username": "eve", "quota": -1}, "invalid_request", "quota"),
        ({"op": "create_user", "username": "eve", "role": 7}, "invalid_request", "role"),
        ({"op": "create_user", "username": "eve", "plan": "Gold"}, "invalid_request", "plan"),
        ({"op": "create_user", "username": "eve", "timezone": "Mars/Base"}, "invalid_request", "timezone"),
        ({"op": "create_user", "username": ["eve"]}, "invalid_request", "username"),
        ({"op": "set_plan", "user_id": uid, "plan": "Gold"}, "invalid_request", "plan"),
        ({"op": "update_user", "user_id": uid, "status": 9}, "invalid_request", "status"),
        ({"op": "update_user", "user_id": uid}, "invalid_request", None),
        ({"op": "get_user", "user_id": 999}, "not_found", None),
        ({"op": "get_user", "username": "nobody"}, "not_found", None),
        ({"op": "issue_key", "user_id": 999}, "not_found", None),
        ({"op": "issue_key", "user_id": uid, "remaining_quota": -1}, "invalid_request", "remaining_quota"),
        ({"op": "issue_key", "user_id": uid, "name": 5}, "invalid_request", "name"),
        ({"op": "revoke", "token": "sk-doesnotexist"}, "not_found", None),
        ({"op": "revoke"}, "invalid_request", "token"),
        ({"op": "create_channel", "type": "suno", "base_url": "not a url"}, "invalid_request", "base_url"),
        ({"op": "create_channel", "type": "suno", "base_url": "ftp://x.example.com"}, "invalid_request", "base_url"),
        ({"op": "create_channel", "type": "suno", "base_url": "http://10.0.0.5:8080"}, "invalid_request", "base_url"),
        ({"op": "create_channel", "type": "suno", "base_url": "http://169.254.169.254"}, "invalid_request",
         "base_url"),
        ({"op": "create_channel", "type": "suno", "base_url": "https://u:p@x.example.com"}, "invalid_request",
         "base_url"),
        ({"op": "create_channel", "type": "dalle", "base_url": "https://x.example.com"}, "invalid_request", "type"),
        ({"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "models": "chirp"},
         "invalid_request", "models"),
        ({"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "weight": -1},
         "invalid_request", "weight"),
        ({"op": "update_channel", "channel_id": cid, "base_url": "gopher://x"}, "invalid_request", "base_url"),
        ({"op": "update_channel", "channel_id": cid, "status": 7}, "invalid_request", "status"),
        ({"op": "disable_channel", "channel_id": 999}, "not_found", None),
        ({"op": "delete_channel", "channel_id": "abc"}, "invalid_request", "channel_id"),
        ({"op": "audit", "user_id": 999}, "not_found", None),
        ({"op": "list_channels", "type": "dalle"}, "invalid_request", "type"),
        ({"op": "drop_tables"}, "unknown_op", "op"),
        ({"username": "eve"}, "unknown_op", "op"),
        (["create_user"], "invalid_request", "op"),
        ("create_user", "invalid_request", "op"),
    ]


def test_bad_input_gets_a_clear_error_and_changes_nothing(seeded):
    before = snapshot_tables()
    for event, code, field_name in bad_events(seeded):
        reply = invoke(event)
        assert reply["ok"] is False, (event, reply)
        assert reply["error"] == code, (event, reply)
        assert reply["message"], event
        if field_name is not None:
            assert reply["field"] == field_name, (event, reply)
    assert snapshot_tables() == before


def test_unknown_op_lists_the_valid_ones(aws):
    reply = invoke({"op": "nuke"})
    assert all(name in reply["message"] for name in admin_ops.OPS)


def test_unexpected_failure_is_a_reply_not_a_trace(aws, monkeypatch):
    def boom(**_: object) -> None:
        raise RuntimeError("dynamodb is down")

    monkeypatch.setitem(admin_ops.OPS, "get_user", admin_ops.Op(boom, "", {}, {"user_id": "int"}))
    reply = invoke({"op": "get_user", "user_id": 1})
    assert reply == {"ok": False, "error": "internal_error", "field": None,
                     "message": "get_user failed unexpectedly; see the function's logs"}


def test_top_up_is_recorded_in_the_ledger(seeded):
    ok({"op": "top_up", "user_id": seeded["user_id"], "amount": 42, "note": "promo"})
    credits = [e for e in LedgerEntry.query(seeded["user_id"]) if e.kind == "credit"]
    assert sorted(e.amount for e in credits) == [42, 1000]
    assert any(e.note == "promo" for e in credits)
