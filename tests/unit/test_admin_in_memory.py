"""The admin operations' rules (services/admin) and the caller's own account (services/core/accounts.py), on
the in-memory repositories: no moto, no network (the `mem` fixture refuses connections; test_unit_isolation.py
runs this file too). The same operations on moto: tests/integration/test_admin_lambda.py."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import credentials as cred_rules
from taskcenter.domain.errors import BadInput, Conflict, NotFound, Unauthorized
from taskcenter.services.admin import operation_specs
from taskcenter.services.admin import operations as admin
from taskcenter.services.core import accounts

from tests.unit.memory_world import World


def test_create_user_credits_through_the_ledger_and_refuses_a_taken_name_in_any_case(mem: World) -> None:
    made = admin.create_user("Frank", quota=300, plan="Team")
    assert (made["username"], made["quota"], made["plan"]) == ("Frank", 300, "Team")
    audit = mem.repos.ledger.audit(made["id"])
    assert audit.ok and audit.credits == 300
    with pytest.raises(Conflict):
        admin.create_user("frank")
    assert mem.repos.users.id_of("FRANK") == made["id"]
    assert operation_specs.run({"op": "get_user", "username": "frank"})["result"]["id"] == made["id"]


def test_bad_input_to_create_user_writes_nothing(mem: World) -> None:
    for bad in ({"username": "x"}, {"username": "gina", "role": 5}, {"username": "gina", "quota": "٣"},
                {"username": "gina", "timezone": "Mars/Base"}, {"username": "gina", "plan": "Free"}):
        reply = operation_specs.run({"op": "create_user", **bad})
        assert reply["ok"] is False and reply["error"] == "invalid_request", reply
    assert mem.repos.users.id_of("gina") is None


def test_a_new_access_token_revokes_the_old_one_and_keys_stay(mem: World) -> None:
    user = admin.create_user("hana")
    key = admin.issue_credential(user["id"], "key")
    first = admin.issue_credential(user["id"], "access")
    second = admin.issue_credential(user["id"], "access")
    status = {c["token_hash"]: c["status"] for c in admin.list_credentials(user["id"])}
    assert status == {key["token_hash"]: cred_rules.ENABLED, first["token_hash"]: cred_rules.DISABLED,
                      second["token_hash"]: cred_rules.ENABLED}
    stored: Any = mem.repos.credentials.by_hash(second["token_hash"])
    assert stored.token_hash == cred_rules.hash_token(second["token"])  # the plaintext is never stored
    assert admin.revoke_credential(key["token"]) == {"token_hash": key["token_hash"], "status": "revoked"}
    assert int(mem.repos.credentials.by_hash(key["token_hash"]).status) == cred_rules.DISABLED
    with pytest.raises(NotFound):
        admin.revoke_credential("sk-unknown")


def test_update_user_carries_the_owner_snapshot_to_every_credential(mem: World) -> None:
    user = admin.create_user("ivan")
    hashes = [admin.issue_credential(user["id"], kind)["token_hash"] for kind in ("key", "key", "access")]
    changed = admin.update_user(user["id"], plan="Business", status=2, group="vip")
    assert (changed["plan"], changed["status"], changed["group"]) == ("Business", 2, "vip")
    for token_hash in hashes:
        cred: Any = mem.repos.credentials.by_hash(token_hash)
        assert (cred.user_plan, int(cred.user_status), cred.user_group) == ("Business", 2, "vip")
    with pytest.raises(BadInput):
        admin.update_user(user["id"], plan="Business", role=7)  # one bad field: nothing changes
    assert int(mem.repos.users.get(user["id"]).role) == 1
    with pytest.raises(BadInput):
        admin.update_user(user["id"], quota=5)
    with pytest.raises(NotFound):
        admin.update_user(999, plan="Pro")


def test_top_up_and_audit(mem: World) -> None:
    user = admin.create_user("judy", quota=10)
    assert admin.top_up(user["id"], "40") == {"user_id": user["id"], "quota": 50}
    with pytest.raises(BadInput):
        admin.top_up(user["id"], 0)
    assert admin.audit(user["id"]) == {"checked": 1, "ok": True, "mismatches": []}
    assert admin.audit()["ok"] is True


def test_channels_are_created_changed_and_soft_deleted(mem: World) -> None:
    made = admin.create_channel("suno", "https://suno.example/", priority="3", models=["a", "a", "b"])
    assert (made["base_url"], made["priority"], made["models"], made["has_secret"]) == \
        ("https://suno.example", 3, ["a", "b"], False)
    changed = admin.update_channel(made["id"], weight=5, name="main")
    assert (changed["weight"], changed["name"], changed["status"]) == (5, "main", 1)
    assert admin.delete_channel(made["id"])["status"] == 3
    assert int(mem.repos.channels.get(made["id"]).status) == 3
    for bad in ({"status": 9}, {"weight": -1}, {"models": "a"}, {"base_url": "ftp://x"}, {}):
        with pytest.raises(BadInput):
            admin.update_channel(made["id"], **bad)
    assert int(mem.repos.channels.get(made["id"]).weight) == 5
    listed = operation_specs.run({"op": "list_channels", "type": "suno"})["result"]
    assert [c["id"] for c in listed] == [made["id"]]
    with pytest.raises(NotFound):
        admin.get_channel(made["id"] + 100)


def test_user_self_reads_the_caller_and_a_vanished_user_is_unauthorized(mem: World) -> None:
    user = admin.create_user("kim", quota=5)
    assert accounts.user_self(user["id"])["quota"] == 5
    with pytest.raises(Unauthorized):
        accounts.user_self(user["id"] + 100)
