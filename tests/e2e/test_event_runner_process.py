"""The event runner as the local stack runs it: `python -m infra.local.runner --config ...`, its own process,
against the moto server, with the tiny template of test_event_runner.py. It drains the queue (partial failure,
redrive), fires the schedule, logs every invocation, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from infra.local import cfn
from infra.local.context import free_port, wait_http
from tests.e2e.test_event_runner import TEMPLATE

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)  # bounded polling of another process's progress
    return False


def post(url: str, expect: int = 200) -> dict:
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            status, body = reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read())
    assert status == expect, body
    return body


def test_runner_process_drains_queues_and_fires_schedules(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "SQS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL": url,
                "LOCAL_SCHEDULE_SCALE": "0.005", "LOCAL_VISIBILITY_SCALE": "0"})
    env.pop("AWS_SESSION_TOKEN", None)
    moto = subprocess.Popen([sys.executable, "-m", "infra.local.moto_main", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner = None
    try:
        wait_http(f"{url}/moto-api/", timeout=20, proc=moto)
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                        region_name="us-east-1")
        sqs = session.client("sqs", endpoint_url=url)
        template = cfn.parse_template(TEMPLATE)
        resources = cfn.create_resources(template, session.client("dynamodb", endpoint_url=url), sqs)
        config = tmp_path / "event-runner.json"
        config.write_text(json.dumps({"template": template, "region": "us-east-1", "queues": {
            lid: dataclasses.asdict(q) for lid, q in resources.queues.items()}}))
        log = tmp_path / "event-runner.log"
        control = free_port()
        with open(log, "wb") as out:
            runner = subprocess.Popen([sys.executable, "-m", "infra.local.runner", "--config", str(config),
                                       "--port", str(control)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{control}/health", timeout=20, proc=runner)
        work, dead = resources.queues["WorkQueue"].url, resources.queues["WorkDeadLetterQueue"].url
        for body in ({"n": 1}, {"n": 2, "fail": True}, {"n": 3}):
            sqs.send_message(QueueUrl=work, MessageBody=json.dumps(body))

        def depth(queue_url: str) -> tuple[int, int]:
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"]), int(
                attributes["ApproximateNumberOfMessagesNotVisible"])

        assert wait_until(lambda: depth(dead) == (1, 0) and depth(work) == (0, 0)), log.read_text()
        (message,) = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10)["Messages"]
        assert json.loads(message["Body"]) == {"n": 2, "fail": True}
        assert wait_until(lambda: log.read_text().count("TickFunction schedule rate(1 minute) ok") >= 2), (
            log.read_text())
        text = log.read_text()
        assert "ready: 1 queue consumers, 1 schedules" in text
        assert "ConsumeFunction sqs WorkQueue" in text and "partial (1 failed)" in text
        # the control API: fire a schedule now, drain a queue now
        fired = post(f"http://127.0.0.1:{control}/fire/TickFunction")
        assert fired == {"ok": True, "error": "", "result": None}
        sqs.send_message(QueueUrl=work, MessageBody=json.dumps({"n": 4}))
        drained = post(f"http://127.0.0.1:{control}/drain/ConsumeFunction")
        assert drained["failed"] == 0 and depth(work) == (0, 0)  # whoever took it (drain or poller) is done
        assert post(f"http://127.0.0.1:{control}/fire/ConsumeFunction", expect=404)["error"]
        assert runner.poll() is None
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=10) == 0
        assert "stopped" in log.read_text()
    finally:
        for proc in (runner, moto):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
