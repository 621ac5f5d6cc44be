"""Secrets in a v1 script_config (issue 12 item 9; docs/task-api-v1.md "Secrets in script_config"): a login
password is never stored in plain text, every reply shows it masked (v1 get, list, stop, retry; /api/task/self,
/api/task/), the host receives the real value (first attempt, retry and retry-all), one KMS call per distinct value per
create, the ciphertext decrypts only for its owner, and no log line carries it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from taskcenter import config, script_secrets
from taskcenter.observability import logger

from tests.integration.v1_support import V1World, retry_messages, run_retry_worker
from tests.support import snapshot_tables

PASSWORD = "hunter2-Zq9:JBSWY3DPEHPK3PXP"  # Instagram form: password:TOTP_SECRET (tikmatrix-scripts.md 3.5)
DEVICES = ["dev1", "dev2", "dev3", "dev4", "dev5"]
LOGIN = {"serials": DEVICES, "script_name": "login",
         "script_config": {"username": "alice_tt", "password": PASSWORD, "email": "a@example.com"}}


class record_kms_calls:  # noqa: N801 - a context manager, like tests.support.record_dynamodb_calls
    """The operation names of every KMS request made inside the block."""

    def __enter__(self) -> list[str]:
        from botocore.client import BaseClient

        self.calls: list[str] = []
        self._orig = orig = BaseClient._make_api_call
        calls = self.calls

        def spy(client, operation_name, api_params):  # type: ignore[no-untyped-def]
            if client.meta.service_model.service_name == "kms":
                calls.append(operation_name)
            return orig(client, operation_name, api_params)

        BaseClient._make_api_call = spy
        return self.calls

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig


@pytest.fixture
def verbose_logs() -> Iterator[None]:
    """Every log line the code writes (the suite runs at WARNING), so the test sees what INFO would show."""
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield
    logger.setLevel(level)


def _raw_items() -> str:
    """Every item of every table as DynamoDB holds it (test-only Scan)."""
    return json.dumps(snapshot_tables(), default=str)


def _dashboard(v1: V1World, path: str, account: Any) -> dict[str, Any]:
    reply = v1.client.http.get(path, headers=account.dashboard_headers())
    assert reply.status_code == 200, reply.body
    body = json.loads(reply.body)
    assert body["success"] is True, body
    return body


def test_login_password_sealed_at_rest_masked_in_every_reply_and_sent_to_the_host(
        v1: V1World, caplog: pytest.LogCaptureFixture, verbose_logs: None) -> None:
    with record_kms_calls() as calls:
        ids = v1.create(LOGIN)
    assert len(ids) == len(DEVICES)
    assert calls == ["Encrypt"]  # one password, five tasks: one KMS call

    # At rest: the raw items (boto3 get_item) and every table hold no trace of the password.
    tasks_table = config.table_name("tasks")
    raw = boto3.client("dynamodb").get_item(TableName=tasks_table, Key={"task_id": {"S": f"v1_{ids[0]}"}},
                                            ConsistentRead=True)["Item"]
    raw_text = json.dumps(raw)
    assert PASSWORD not in raw_text and "hunter2" not in raw_text
    stored = json.loads(raw["properties"]["S"])
    assert script_secrets.is_marker(stored["script_config"]["password"])
    assert script_secrets.is_marker(stored["_submit"]["payload"]["script_config"]["password"])
    assert "hunter2" not in _raw_items()

    # Every reply: the field is there, masked; neither the plaintext nor the ciphertext.
    one = v1.get(ids[0])
    assert one["script_config"] == {"username": "alice_tt", "password": "******", "email": "a@example.com"}
    status, listed = v1.call("GET", "/api/v1/task?page_size=100")
    assert status == 200 and {t["id"] for t in listed["data"]["tasks"]} == set(ids)
    assert all(t["script_config"]["password"] == "******" for t in listed["data"]["tasks"])
    mine = _dashboard(v1, "/api/task/self?page_size=100", v1.user)
    admin_view = _dashboard(v1, "/api/task/?page_size=100", v1.world.admin)
    for page in (mine, admin_view):
        items = page["data"]["items"]
        assert len(items) == len(DEVICES)
        assert all(i["properties"]["script_config"]["password"] == "******" for i in items)
    for text in (json.dumps(one), json.dumps(listed), json.dumps(mine), json.dumps(admin_view)):
        assert "hunter2" not in text and script_secrets.MARKER not in text

    # The host gets the real password (the retry worker starts the tasks), decrypted once for all five.
    script_secrets.clear_cache()
    with record_kms_calls() as calls:
        run_retry_worker()
    assert len(v1.sim.submissions) == len(DEVICES)
    assert all(s["script_config"]["password"] == PASSWORD for s in v1.sim.submissions)
    assert calls == ["Decrypt"]

    # Stop answers masked; a retry answers masked and sends the real password again.
    status, stopped = v1.call("POST", f"/api/v1/task/{ids[0]}/stop", {})
    assert status == 200 and stopped["data"]["script_config"]["password"] == "******", stopped
    status, retried = v1.call("POST", f"/api/v1/task/{ids[0]}/retry", {})
    assert status == 200 and retried["data"]["script_config"]["password"] == "******", retried
    script_secrets.clear_cache()  # a new invocation: the kept ciphertext is decrypted again
    run_retry_worker()
    assert len(v1.sim.submissions) == len(DEVICES) + 1
    assert v1.sim.submissions[-1]["script_config"]["password"] == PASSWORD
    assert "hunter2" not in json.dumps(stopped) + json.dumps(retried)

    # Retry-all: the restarted tasks reach the host with the real password too.
    for task_id in ids[1:3]:
        status, stopped = v1.call("POST", f"/api/v1/task/{task_id}/stop", {})
        assert status == 200 and stopped["data"]["status"] == 3, stopped
    status, run = v1.call("POST", "/api/v1/task/retry-all")
    assert status == 200 and run["data"] == 2 and "hunter2" not in json.dumps(run), run
    run_retry_worker()
    assert len(v1.sim.submissions) == len(DEVICES) + 3
    assert [s["script_config"]["password"] for s in v1.sim.submissions[-2:]] == [PASSWORD, PASSWORD]

    lines = [json.dumps(record.__dict__, default=str) for record in caplog.records]  # message and extra keys
    assert any("task created" in line for line in lines)  # the logs were captured at all
    assert not [line for line in lines if "hunter2" in line]


def test_every_distinct_secret_is_encrypted_once_and_only_secrets(v1: V1World) -> None:
    post = {"serials": ["dev1"], "script_name": "post",
            "script_config": {"content_type": 0, "captions": "hi", "material_list": ["C:/v.mp4"]}}
    with record_kms_calls() as calls:
        v1.create(post)
    assert calls == []  # nothing secret: no KMS at all
    with record_kms_calls() as calls:
        v1.create({**LOGIN, "serials": ["dev1", "dev2"]})
        v1.create({**LOGIN, "serials": ["dev3"], "script_config": {"username": "u", "password": "other-pw"}})
    assert calls == ["Encrypt", "Encrypt"]  # one per request and distinct value


def test_kms_failure_refuses_the_create_and_writes_nothing(v1: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot_tables()
    monkeypatch.setenv(script_secrets.KEY_ENV, "arn:aws:kms:us-east-1:123456789012:key/missing")
    status, reply = v1.call("POST", "/api/v1/task", LOGIN)
    assert status == 503 and reply["code"] != 0 and "hunter2" not in json.dumps(reply), reply
    monkeypatch.delenv(script_secrets.KEY_ENV)
    status, reply = v1.call("POST", "/api/v1/task", LOGIN)
    assert status == 503, reply
    assert snapshot_tables() == before
    assert retry_messages() == []


def test_a_ciphertext_opens_only_for_its_owner(aws: dict[str, str]) -> None:
    sealed = script_secrets.Sealer(7).seal({"chatgpt_settings": {"api_key": "sk-live-123", "model": "gpt-4"}})
    marker = sealed["chatgpt_settings"]["api_key"]
    assert script_secrets.is_marker(marker) and "sk-live" not in json.dumps(sealed)
    assert script_secrets.open_config(sealed, 7) == {"chatgpt_settings": {"api_key": "sk-live-123",
                                                                          "model": "gpt-4"}}
    with pytest.raises(script_secrets.SecretNotReadable) as refused:
        script_secrets.open_config(sealed, 8)  # copied into another user's task: never readable
    assert refused.value.permanent


def test_an_unreadable_secret_fails_the_task_and_refunds_it(v1: V1World) -> None:
    from taskcenter.domain import states
    from taskcenter.store import money
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import Task

    from tests.integration.v1_support import quota

    before = quota(v1.user)
    task_id = v1.create({**LOGIN, "serials": ["dev1"]})[0]
    task = task_store.get(f"v1_{task_id}")
    assert task is not None
    props = dict(task.properties)
    other = script_secrets.Sealer(v1.other.user_id).seal({"password": "x"})["password"]  # not this user's
    props["_submit"]["payload"]["script_config"]["password"] = other
    task.update(actions=[Task.properties.set(props)])
    run_retry_worker()
    task = task_store.get(f"v1_{task_id}")
    assert task is not None and task.status == states.FAILURE and v1.sim.submissions == []
    assert "could not be decrypted" in (task.fail_reason or "")
    assert task.billing == states.BILLING_REFUND_PENDING  # the refund worker's job (refund queue)
    money.refund_task(task.task_id, int(task.attempt))
    assert quota(v1.user) == before
