"""Webhook signing secrets at rest (services/webhooks/signing_secrets.py, docs/webhooks.md "Signing secrets at
rest"), in-process with moto's KMS: the raw DynamoDB item never holds a secret, delivery still verifies with
the `standardwebhooks` library, a rotation still signs with both secrets, a row written before encryption is
migrated on read, a ciphertext bound to another endpoint does not open, and no secret reaches a log line."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
from taskcenter import sealing
from taskcenter.observability import logger
from taskcenter.store.models import WebhookItem

from tests.integration.test_webhooks import add_endpoint, call, hooks, imagine, run_to_end  # noqa: F401 - fixture
from tests.webhook_support import drain


def raw_endpoint(user_id: int, endpoint_id: str) -> dict[str, Any]:
    """The item exactly as DynamoDB holds it (no PynamoDB in between)."""
    item = boto3.client("dynamodb").get_item(
        TableName=WebhookItem.Meta.table_name, ConsistentRead=True,
        Key={"pk": {"S": f"user#{user_id}"}, "sk": {"S": f"ep#{endpoint_id}"}})["Item"]
    return item


def fingerprint(secret: str) -> str:
    """docs/webhooks.md: the preview is 8 hex digits of the secret's SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def assert_holds_no_secret(item: dict[str, Any], *secrets: str) -> None:
    text = json.dumps(item)
    assert "whsec_" not in text
    for secret in secrets:
        assert secret not in text and secret[6:] not in text and secret[6:12] not in text
    assert item["secret"]["S"].startswith("kms1:")


def test_the_stored_item_holds_no_secret_and_delivery_verifies(client: Any, hooks: Any) -> None:  # noqa: F811
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/sealed")
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert_holds_no_secret(raw_endpoint(hooks.user.user_id, endpoint["id"]), secret)

    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    row = next(e for e in listing["data"] if e["id"] == endpoint["id"])
    assert "secret" not in row and row["secret_preview"] == f"whsec_...{fingerprint(secret)}"
    assert secret[6:12] not in json.dumps(listing)  # not even a fragment

    receiver.secrets.append(secret)
    run_to_end(imagine(client, hooks.user))
    drain()
    assert receiver.received and all(r.verified for r in receiver.received)


def test_rotation_seals_both_and_signs_with_both(client: Any, hooks: Any) -> None:  # noqa: F811
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/rotated", events=["task.succeeded"])
    status, rotated = call(client, "post", f"/api/webhook/self/{endpoint['id']}/rotate", hooks.user.dashboard_headers())
    new, old = rotated["data"]["secret"], endpoint["secret"]
    assert status == 200 and new != old
    item = raw_endpoint(hooks.user.user_id, endpoint["id"])
    assert_holds_no_secret(item, new, old)
    assert item["old_secret"]["S"].startswith("kms1:") and item["old_secret"] != item["secret"]

    run_to_end(imagine(client, hooks.user))
    drain()
    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for only in (old, new):  # a receiver on either secret accepts it
        receiver.secrets[:] = [only]
        assert receiver.verify(got.body, got.headers), only


def test_a_plaintext_row_from_before_is_migrated_on_read(client: Any, hooks: Any) -> None:  # noqa: F811
    """Rows written before encryption still sign; the delivery worker seals them (migrate on read)."""
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/legacy", events=["task.succeeded"])
    legacy = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    ddb = boto3.client("dynamodb")
    key = {"pk": {"S": f"user#{hooks.user.user_id}"}, "sk": {"S": f"ep#{endpoint['id']}"}}
    ddb.update_item(TableName=WebhookItem.Meta.table_name, Key=key, UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "secret"}, ExpressionAttributeValues={":s": {"S": legacy}})
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    preview = next(e for e in listing["data"] if e["id"] == endpoint["id"])["secret_preview"]
    assert preview == f"whsec_...{fingerprint(legacy)}"

    receiver.secrets.append(legacy)
    run_to_end(imagine(client, hooks.user))
    drain()
    assert [r.verified for r in receiver.received] == [True]
    assert_holds_no_secret(raw_endpoint(hooks.user.user_id, endpoint["id"]), legacy)
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    assert next(e for e in listing["data"] if e["id"] == endpoint["id"])["secret_preview"] == preview


def test_a_ciphertext_moved_to_another_endpoint_does_not_open(client: Any, hooks: Any) -> None:  # noqa: F811
    """The encryption context binds user, endpoint and purpose: a copied ciphertext disables the endpoint
    with a reason the user can read, and nothing is sent unsigned or signed with a wrong key."""
    receiver = hooks.extra["receiver"]
    first = add_endpoint(client, hooks.user, f"{receiver.url}/first", events=["task.succeeded"])
    second = add_endpoint(client, hooks.user, f"{receiver.url}/second", events=["task.succeeded"])
    stolen = raw_endpoint(hooks.user.user_id, first["id"])["secret"]
    ddb = boto3.client("dynamodb")
    ddb.update_item(TableName=WebhookItem.Meta.table_name,
                    Key={"pk": {"S": f"user#{hooks.user.user_id}"}, "sk": {"S": f"ep#{second['id']}"}},
                    UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "secret"},
                    ExpressionAttributeValues={":s": stolen})
    from taskcenter.services.webhooks import signing_secrets

    sealing.clear_cache()
    with pytest.raises(sealing.SecretNotReadable):
        signing_secrets.open_secret(hooks.user.user_id, second["id"], stolen["S"])
    with pytest.raises(sealing.SecretNotReadable):
        signing_secrets.open_secret(hooks.other.user_id, first["id"], stolen["S"])

    run_to_end(imagine(client, hooks.user))
    assert "abandoned" in drain()
    assert [r.path for r in receiver.received] == ["/first"]
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    row = next(e for e in listing["data"] if e["id"] == second["id"])
    assert row["status"] == "disabled" and "signing secret cannot be decrypted" in row["disabled_reason"]


def test_without_kms_nothing_is_created(client: Any, hooks: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv(sealing.KEY_ENV)
    status, reply = call(client, "post", "/api/webhook/self", hooks.user.dashboard_headers(),
                         {"url": "https://example.com/hook"})
    assert status == 503 and reply["success"] is False and "whsec_" not in json.dumps(reply)
    monkeypatch.setenv(sealing.KEY_ENV, "arn:aws:kms:us-east-1:123456789012:key/missing")  # KMS refuses
    status, reply = call(client, "post", "/api/webhook/self", hooks.user.dashboard_headers(),
                         {"url": "https://example.com/hook"})
    assert status == 503 and reply["success"] is False
    status, listing = call(client, "get", "/api/webhook/self", hooks.user.dashboard_headers())
    assert listing["data"] == []  # no half-written endpoint


@pytest.fixture
def debug_logs() -> Any:
    """Every log line written (the suite runs at WARNING, tests/conftest.py)."""
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield
    logger.setLevel(level)


def test_no_secret_in_a_log_line(client: Any, hooks: Any, capfd: pytest.CaptureFixture[str],  # noqa: F811
                                 caplog: pytest.LogCaptureFixture, debug_logs: Any) -> None:
    receiver = hooks.extra["receiver"]
    receiver.script = [500]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/logged")
    status, rotated = call(client, "post", f"/api/webhook/self/{endpoint['id']}/rotate", hooks.user.dashboard_headers())
    run_to_end(imagine(client, hooks.user))
    drain()
    assert len(receiver.received) > 1  # a retry was logged too
    out, err = capfd.readouterr()
    records = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    assert "webhook secret" in records or "task moved" in records  # the lines, with their extras, were captured
    for secret in (endpoint["secret"], rotated["data"]["secret"]):
        assert secret[6:] not in out + err + records


def test_rotating_a_plaintext_row_seals_both(client: Any, hooks: Any) -> None:  # noqa: F811
    receiver = hooks.extra["receiver"]
    endpoint = add_endpoint(client, hooks.user, f"{receiver.url}/legacy-rotated", events=["task.succeeded"])
    legacy = "whsec_" + "WllYV1ZVVFNSUVBPTk1MS0pJSEdGRURD"
    boto3.client("dynamodb").update_item(
        TableName=WebhookItem.Meta.table_name,
        Key={"pk": {"S": f"user#{hooks.user.user_id}"}, "sk": {"S": f"ep#{endpoint['id']}"}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "secret"},
        ExpressionAttributeValues={":s": {"S": legacy}})
    status, rotated = call(client, "post", f"/api/webhook/self/{endpoint['id']}/rotate", hooks.user.dashboard_headers())
    assert status == 200
    assert_holds_no_secret(raw_endpoint(hooks.user.user_id, endpoint["id"]), legacy, rotated["data"]["secret"])
    receiver.secrets.append(legacy)  # a receiver that has not switched yet
    run_to_end(imagine(client, hooks.user))
    drain()
    assert [r.verified for r in receiver.received] == [True]
