"""The event runner inside the running local stack (`python -m infra.local`), driving the real handlers of
template.yaml: it runs every schedule and consumer the template declares, and its control API fires each
schedule and drains each queue on demand.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from infra.local import cfn

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def call(url: str, method: str = "GET") -> dict:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200
        return json.loads(reply.read())


def declared_sources() -> tuple[list[str], list[str]]:
    """(scheduled functions, queue consumers) of template.yaml."""
    template = cfn.load_template(ROOT / "template.yaml")
    scheduled, consumers = [], []
    for logical_id, props in cfn.resources_of(template, "AWS::Serverless::Function").items():
        kinds = {event["Type"] for event in (props.get("Events") or {}).values()}
        if "Schedule" in kinds:
            scheduled.append(logical_id)
        if "SQS" in kinds:
            consumers.append(logical_id)
    return sorted(scheduled), sorted(consumers)


def test_runner_drives_every_schedule_and_consumer_of_the_template(local_stack):
    url = local_stack.components["event-runner"]
    assert url, "the event runner component did not start (see the stack's logs/event-runner.log)"
    scheduled, consumers = declared_sources()
    sources = call(f"{url}/sources")["sources"]
    assert sorted(line.split(":", 1)[0] for line in sources) == sorted(scheduled + consumers)

    for function_id in scheduled:
        fired = call(f"{url}/fire/{function_id}", "POST")
        assert fired["ok"], f"{function_id}: {fired['error']}"
    for function_id in consumers:
        drained = call(f"{url}/drain/{function_id}", "POST")
        assert set(drained) == {"batches", "deleted", "failed"}
    assert call(f"{url}/health")["invocations"] >= len(scheduled)
