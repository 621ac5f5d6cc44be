"""Channel secrets live in Secrets Manager, never in the channels table, a reply or a log line
(store/channel_secrets.py, services/admin_secrets.py; docs/admin.md "Channel secrets").

Against moto (DynamoDB, Secrets Manager) and the in-process Suno simulator, through the admin operations
(the admin Lambda's table) and the relay route.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from taskcenter.providers.base import TransientUpstreamError
from taskcenter.services.admin import operation_specs as admin_ops
from taskcenter.services.core import channels
from taskcenter.store import channel_secrets
from taskcenter.store.models import Channel

from tests.integration import suno_support
from tests.integration.suno_support import submit
from tests.stub_upstream import Answer, StubUpstream

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

SECRET = "sk-upstream-Zq8v1xK3p0Lm"
ROTATED = "sk-upstream-rotated-Yt5w2Nn9"


def ok(event: dict[str, Any]) -> Any:
    reply = admin_ops.run(event)
    assert reply["ok"], reply
    return reply["result"]


def raw_channel_item(channel_id: int) -> dict[str, Any]:
    import os

    return boto3.client("dynamodb").get_item(TableName=os.environ["CHANNELS_TABLE"], Key={"id": {"N": str(channel_id)}},
                                             ConsistentRead=True)["Item"]


def stored_value(ref: str) -> str:
    return boto3.client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    """Everything logged meanwhile, at DEBUG, as CloudWatch would get it: Powertools' JSON lines with their extra
    keys (`reason`, ...: a handler with Powertools' formatter, since caplog keeps only the message and capsys
    does not see the handler bound to stdout at import; found by hostile testing, 4 Dec 2026), and every other
    logger."""
    from taskcenter.observability import logger

    caplog.set_level(logging.DEBUG)
    previous = logger.log_level
    logger.setLevel("DEBUG")
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)

    def text() -> str:
        return sink.getvalue() + caplog.text + capsys.readouterr().out

    yield text
    logger._logger.removeHandler(handler)
    logger.setLevel(previous)


def test_the_table_reply_and_logs_never_hold_the_secret(aws, all_logs):
    created = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": SECRET})
    cid = created["id"]
    item = raw_channel_item(cid)
    assert SECRET not in json.dumps(item) and "secret" not in item  # only the reference
    assert item["secret_ref"] == {"S": f"taskcenter/local/channel/{cid}"}
    assert stored_value(item["secret_ref"]["S"]) == SECRET

    replies = [created,
               ok({"op": "update_channel", "channel_id": cid, "secret": ROTATED, "weight": 3}),
               ok({"op": "get_channel", "channel_id": cid}),
               ok({"op": "list_channels"}),
               admin_ops.run({"op": "update_channel", "channel_id": cid, "secret": f" {SECRET}"}),  # refused
               admin_ops.run({"op": "create_channel", "type": "suno", "base_url": "ftp://x", "secret": SECRET})]
    assert replies[0]["has_secret"] is True and replies[0]["secret_ref"] == f"taskcenter/local/channel/{cid}"
    assert replies[-1]["ok"] is False and replies[-2]["ok"] is False
    assert stored_value(item["secret_ref"]["S"]) == ROTATED  # a new version, same secret
    assert SECRET not in json.dumps(raw_channel_item(cid)) and ROTATED not in json.dumps(raw_channel_item(cid))
    channels.info(Channel.get(cid))  # a runtime read of the secret logs nothing of it either
    logs = all_logs()
    assert "admin operation" in logs and "Calling GetItem" in logs  # the capture sees ours and the SDK's DEBUG
    for value in (SECRET, ROTATED):
        assert value not in json.dumps(replies)
        assert value not in logs
    # the refused create wrote nothing, not even a secret
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == [f"taskcenter/local/channel/{cid}"]


def test_the_upstream_gets_the_secret_and_a_rotated_one_after_the_cache_max_age(
        client, suno_world, suno_sim, monkeypatch):
    world = suno_world
    monkeypatch.setenv("CHANNEL_SECRET_MAX_AGE_SECONDS", "300")
    ref = Channel.get(world.channels["suno"]).secret_ref
    assert ref and stored_value(ref) == "sim-secret"
    suno_sim.config.api_key = SECRET
    ok({"op": "update_channel", "channel_id": world.channels["suno"], "secret": SECRET})
    reads: list[str] = []
    sm = channel_secrets.client()
    original = sm.get_secret_value

    def counted(**kwargs: Any) -> Any:
        reads.append("get")
        return original(**kwargs)

    monkeypatch.setattr(sm, "get_secret_value", counted)  # the Powertools provider calls this client

    status, body, _ = submit(client, world.user)
    assert status == 200, body
    assert suno_sim.submits[-1].authorization == f"Bearer {SECRET}"
    assert submit(client, world.user)[0] == 200
    assert reads == ["get"]  # cached: one read for two submissions

    # Rotation: the upstream takes only the new key from now on; readers keep their copy for max_age.
    suno_sim.config.api_key = ROTATED
    ok({"op": "update_channel", "channel_id": world.channels["suno"], "secret": ROTATED})
    assert channels.info(Channel.get(world.channels["suno"])).secret == SECRET  # still within max_age
    later = datetime.now() + timedelta(seconds=301)

    class _Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    import aws_lambda_powertools.utilities.parameters.base as powertools_base

    monkeypatch.setattr(powertools_base, "datetime", _Later)  # the cache's clock: max_age has passed
    status, body, _ = submit(client, world.user)
    assert status == 200, body
    assert suno_sim.submits[-1].authorization == f"Bearer {ROTATED}"
    assert reads == ["get", "get"]


def test_with_max_age_zero_a_rotation_is_seen_at_once(aws, monkeypatch):
    monkeypatch.setenv("CHANNEL_SECRET_MAX_AGE_SECONDS", "0")
    cid = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": SECRET})["id"]
    assert channels.info(Channel.get(cid)).secret == SECRET
    ok({"op": "update_channel", "channel_id": cid, "secret": ROTATED})
    assert channels.info(Channel.get(cid)).secret == ROTATED


def test_plaintext_rows_are_unusable_until_migrated_and_the_migration_removes_them(aws):
    Channel(id=41, type="suno", name="old", base_url="https://old.example.com", legacy_secret=SECRET,
            status=1).save()
    Channel(id=42, type="tikmatrix", name="ref", base_url="https://host.example.com", legacy_secret="ssm:/tc/host",
            status=1).save()
    Channel(id=43, type="midjourney", name="none", base_url="https://mj.example.com", status=1).save()
    channels.clear_cache()
    assert ok({"op": "get_channel", "channel_id": 41})["plaintext_secret"] is True
    with pytest.raises(TransientUpstreamError, match="not migrated"):
        channels.info(Channel.get(41))  # never called without its credential
    assert channels.failover_order("suno") == []  # left out of selection, as if it were down

    result = ok({"op": "migrate_channel_secrets"})
    assert result == {"checked": 3, "migrated": [41], "dropped_references": [42]}
    for cid in (41, 42, 43):
        assert SECRET not in json.dumps(raw_channel_item(cid)) and "secret" not in raw_channel_item(cid)
    assert stored_value("taskcenter/local/channel/41") == SECRET
    assert channels.info(Channel.get(41)).secret == SECRET
    assert channels.info(Channel.get(42)).secret == ""  # the reference was never a credential
    channels.clear_cache()
    assert [c.id for c in channels.failover_order("suno")] == [41]
    assert ok({"op": "migrate_channel_secrets"}) == {"checked": 3, "migrated": [], "dropped_references": []}


def test_deleting_a_channel_schedules_its_secret_for_deletion_and_undeleting_restores_it(aws, monkeypatch):
    monkeypatch.setenv("CHANNEL_SECRET_MAX_AGE_SECONDS", "0")
    cid = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": SECRET})["id"]
    ref = f"taskcenter/local/channel/{cid}"
    ok({"op": "delete_channel", "channel_id": cid})
    assert "DeletedDate" in boto3.client("secretsmanager").describe_secret(SecretId=ref)
    with pytest.raises(TransientUpstreamError):
        channels.info(Channel.get(cid))
    ok({"op": "update_channel", "channel_id": cid, "status": 1})
    assert "DeletedDate" not in boto3.client("secretsmanager").describe_secret(SecretId=ref)
    assert channels.info(Channel.get(cid)).secret == SECRET
    # "secret": "" removes it
    assert ok({"op": "update_channel", "channel_id": cid, "secret": ""})["has_secret"] is False
    assert channels.info(Channel.get(cid)).secret == ""


def test_ssm_references_and_oversized_values_are_refused_and_write_nothing(aws):
    for secret, field in (("ssm:/taskcenter/suno", "secret"), ("x" * 65_537, "secret"), (5, "secret")):
        reply = admin_ops.run({"op": "create_channel", "type": "suno", "base_url": "https://s.example.com",
                               "secret": secret})
        assert reply["ok"] is False and reply["error"] == "invalid_request" and reply["field"] == field
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []
    assert ok({"op": "list_channels"}) == []


def test_a_refused_cross_origin_redirect_echoing_the_key_is_logged_without_it(world: Any, client: Any,
                                                                                monkeypatch: pytest.MonkeyPatch,
                                                                                all_logs: Any) -> None:
    """An upstream answers the submit with a redirect elsewhere carrying the key it was sent (`?api_key=...`):
    refused, and the other origin never called; the refusal's log line quoted the Location whole, key
    included (found by hostile testing, 4 Dec 2026). Now it is redacted as upstream bodies are."""
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    with StubUpstream() as upstream, StubUpstream() as elsewhere:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{upstream.host_port},{elsewhere.host_port}")
        admin.create_channel("suno", upstream.url, name="suno-stub", secret=REDIRECT_SECRET)
        channels.clear_cache()
        upstream.routes["/suno/submit/MUSIC"] = Answer(
            302, headers={"Location": f"{elsewhere.url}/login?api_key={REDIRECT_SECRET}"}, body=b"")
        reply = client.http.post("/suno/submit/music", headers=world.user.relay_headers(),
                                 body=json.dumps({"prompt": "a song"}))
        assert upstream.seen[-1].headers.get("authorization") == f"Bearer {REDIRECT_SECRET}"
        assert not elsewhere.seen and REDIRECT_SECRET not in reply.body.decode()
        logs = all_logs()
        assert "redirect to another origin refused" in logs and "[secret]" in logs
        assert REDIRECT_SECRET not in logs


REDIRECT_SECRET = "sk-upstream-Qw7ErTy9UiOp"
