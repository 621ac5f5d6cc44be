"""The local stack over HTTP: what `make local` prints works, and the stack is built as template.yaml says."""

from __future__ import annotations

import json
import re
import shlex
import socket
import stat
import subprocess
import sys
import urllib.request

import boto3
import pytest
from taskcenter.config import QUEUE_ENV, TABLE_ENV

from tests.e2e.conftest import ROOT, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def printed_curl_commands(local_stack) -> list[str]:
    output = (local_stack.state_dir / "stack.out").read_text()
    return [line.strip() for line in output.splitlines() if line.strip().startswith("curl ")]


def run_curl_with_urllib(command: str) -> tuple[int, dict]:
    """Execute a printed `curl -s URL -H 'K: V' ...` line exactly as printed, without needing curl."""
    words = shlex.split(command)
    assert words[:2] == ["curl", "-s"]
    url, headers = words[2], {}
    rest = words[3:]
    while rest:
        flag, value, *rest = rest
        assert flag == "-H", command
        name, _, header_value = value.partition(": ")
        headers[name] = header_value
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
        return reply.status, json.loads(reply.read())


def test_printed_curl_answers_with_the_demo_account(local_stack):
    commands = printed_curl_commands(local_stack)
    user_self = [c for c in commands if "/api/user/self" in c]
    assert user_self, commands
    status, body = run_curl_with_urllib(user_self[0])
    assert status == 200 and body["success"] is True
    assert body["data"]["username"] == "demo" and body["data"]["id"] == local_stack.demo.user_id
    # Seeded with 50,000,000; other tests on the same session stack may already have spent some of it.
    data = body["data"]
    assert data["role"] == 1 and 0 < data["quota"] <= 50_000_000
    assert data["quota"] + data["used_quota"] == 50_000_000  # nothing else credits or debits the demo user


def test_seeded_accounts_authenticate_and_keys_are_not_dashboard_tokens(local_stack):
    status, body = local_stack.get("/api/user/self", headers=local_stack.admin.dashboard_headers())
    assert status == 200 and body["data"]["role"] == 10 and body["data"]["username"] == "admin"
    wrong = {**local_stack.demo.dashboard_headers(), "Authorization": f"Bearer {local_stack.demo.api_key}"}
    status, body = local_stack.get("/api/user/self", headers=wrong)
    assert status == 401 and body["success"] is False
    assert local_stack.demo.api_key.startswith("sk-")


def test_credentials_file_is_private_and_complete(local_stack):
    path = local_stack.state_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    for name in ("admin", "demo"):
        assert {"user_id", "access_token", "api_key", "key_hash"} <= set(doc[name])
    assert doc["api_url"] == local_stack.api_url and doc["env"]["AWS_ENDPOINT_URL"] == local_stack.moto_url


def test_tables_and_queues_exist_with_redrive_to_their_dead_letter_queues(local_stack):
    env = local_stack.env
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=local_stack.moto_url)
    tables = set(dynamodb.list_tables()["TableNames"])
    assert {env[var] for var in TABLE_ENV.values()} <= tables
    assert all(name.startswith("local-") for name in tables)
    sqs = session.client("sqs", endpoint_url=local_stack.moto_url)
    for var in QUEUE_ENV.values():
        attrs = sqs.get_queue_attributes(QueueUrl=env[var], AttributeNames=["All"])["Attributes"]
        policy = json.loads(attrs["RedrivePolicy"])
        assert policy["deadLetterTargetArn"].split(":")[-1].startswith("local-")
        assert int(policy["maxReceiveCount"]) >= 1


def test_admin_cli_operates_on_the_running_stack(local_stack):
    def cli(*args: str) -> tuple[int, dict]:
        done = subprocess.run([sys.executable, "-m", "infra.admin_cli", *args, "--state-dir",
                               str(local_stack.state_dir)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        return done.returncode, json.loads(done.stdout)

    code, reply = cli("top_up", "--user-id", str(local_stack.admin.user_id), "--amount", "1234")
    assert code == 0 and reply["ok"] is True
    status, body = local_stack.get("/api/user/self", headers=local_stack.admin.dashboard_headers())
    assert body["data"]["quota"] == reply["result"]["quota"] == 10_000_000 + 1234

    code, reply = cli("top_up", "--json", json.dumps({"user_id": local_stack.admin.user_id, "amount": -1}))
    assert code == 1 and reply["ok"] is False and reply["field"] == "amount"
    code, reply = cli("audit")
    assert code == 0 and reply["result"]["ok"] is True


def _port_open(url: str) -> bool:
    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def test_check_mode_exits_zero_and_sigterm_stops_every_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "infra.local", "--check", "--moto-port", "0", "--api-port", "0",
                           "--state-dir", str(tmp_path / "check")], cwd=ROOT, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check passed" in done.stdout

    proc, doc = start_stack(tmp_path)
    assert _port_open(doc["api_url"]) and _port_open(doc["moto_url"])
    assert stop_stack(proc) == 0
    assert not _port_open(doc["api_url"]) and not _port_open(doc["moto_url"])
    assert not (tmp_path / "credentials.json").exists()
