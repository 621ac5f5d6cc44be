"""Task API v1 conformance on the local stack over HTTP (issue 14): every documented example of every TikMatrix
script (tests/v1_examples.py, from tikmatrix-scripts.md §5) is accepted as documented, fans out as documented,
runs on the simulated TikMatrix host and reaches it with the documented field names and values (the host
records what it was sent); every task object carries every field the desktop UI reads (§6); and the client's
request sequence (list, stats, stop, retry, retry-all, delete, batch delete, licence) answers in the shapes
clients read (§5 "Other calls", §7).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from infra.simulators.tikmatrix import TOP_LEVEL
from tests.e2e.conftest import RunningStack
from tests.v1_examples import EXAMPLE_ACCOUNTS, EXAMPLE_DEVICES, EXAMPLES, Example, expected_host_config, expected_multi

pytestmark = pytest.mark.e2e

DEADLINE_S = 300.0
WALL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")  # the UI parses it after replacing " " by "T"
UI_FIELDS = {"id", "serial", "script_name", "script_args", "status", "retry_count", "start_time", "end_time",
             "started_at", "finished_at", "duration_seconds", "source", "remark"}


def _account(stack: RunningStack, plan: str = "Pro") -> dict[str, str]:
    from taskcenter.services.admin import operations as admin

    user = admin.create_user("cf" + secrets.token_hex(4), quota=50_000_000, plan=plan)
    key = admin.issue_credential(user["id"], "key")
    return {"Authorization": f"Bearer {key['token']}"}


def _host_view(numeric_id: int) -> dict[str, Any]:
    """What the simulated host holds for one of our tasks (its view records the body it was sent)."""
    from taskcenter.domain.ids import v1_task_key
    from taskcenter.services.core import channels
    from taskcenter.store import tasks as task_store

    task = task_store.get(v1_task_key(numeric_id))
    assert task is not None and task.upstream_id, numeric_id
    base = channels.get_channel(int(task.channel_id)).base_url
    with urllib.request.urlopen(f"{base}/api/v1/task/{task.upstream_id}", timeout=10) as reply:  # noqa: S310
        return json.loads(reply.read())["data"]


def check_ui_fields(view: dict[str, Any], *, finished: bool) -> None:
    assert set(view) >= UI_FIELDS, sorted(UI_FIELDS - set(view))
    assert isinstance(view["id"], int) and view["status"] in (0, 1, 2, 3) and view["source"] == "api"
    assert isinstance(view["retry_count"], int) and isinstance(view["remark"], str)
    assert json.loads(view["script_args"])["username"] == view["username"]
    if finished:
        assert WALL.match(view["start_time"]) and WALL.match(view["end_time"]), view
        assert datetime.fromisoformat(view["started_at"]) <= datetime.fromisoformat(view["finished_at"])
        assert isinstance(view["duration_seconds"], int) and view["duration_seconds"] >= 0


def test_every_documented_example_runs_and_reaches_the_host_with_the_documented_fields(
        local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    local_stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    host = next(c for c in local_stack.channels if c.get("type") == "tikmatrix")
    monkeypatch.setenv("ALLOW_PRIVATE_UPSTREAMS", "1")
    admin.create_channel("tikmatrix", host["base_url"], name="examples-host", devices=list(EXAMPLE_DEVICES),
                         accounts=list(EXAMPLE_ACCOUNTS))
    channels.clear_cache()
    created: list[tuple[Example, dict[str, str], list[int]]] = []
    for example in EXAMPLES:  # one account each: one device runs one task at a time per user
        headers = _account(local_stack)
        status, reply = local_stack.post("/api/v1/task", example.body, headers=headers)
        assert (status, reply["code"], reply["message"]) == (200, 0, "success"), (example.name, reply)
        assert reply["data"]["created_count"] == example.tasks == len(reply["data"]["task_ids"]), example.name
        created.append((example, headers, reply["data"]["task_ids"]))

    scheduled = [(e, h, ids) for e, h, ids in created if e.body.get("start_time")]
    for example, headers, ids in scheduled:  # not due until then: shown as scheduled, then stopped (refunded)
        for numeric_id in ids:
            _, reply = local_stack.get(f"/api/v1/task/{numeric_id}", headers=headers)
            view = reply["data"]
            check_ui_fields(view, finished=False)
            assert view["status"] == 0 and view["start_time"].endswith(f" {example.body['start_time']}:00"), view
            _, stopped = local_stack.post(f"/api/v1/task/{numeric_id}/stop", headers=headers)
            assert stopped["code"] == 0 and stopped["data"]["status"] == 3, stopped

    waiting = {(i, json.dumps(h)): (e, h) for e, h, ids in created if not e.body.get("start_time") for i in ids}
    views: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while waiting and time.monotonic() < deadline:
        for (numeric_id, key), (_, headers) in list(waiting.items()):
            _, reply = local_stack.get(f"/api/v1/task/{numeric_id}", headers=headers)
            if reply["data"]["status"] in (2, 3):
                views[numeric_id] = reply["data"]
                del waiting[(numeric_id, key)]
        time.sleep(1.0)  # the event runner works on its own schedule; the test only watches
    assert not waiting, f"{len(waiting)} example tasks did not finish in {DEADLINE_S}s"

    for example, _, ids in created:
        if example.body.get("start_time"):
            continue
        places = example.body.get("serials") or example.body.get("usernames")
        targets = list(example.targets) or [None]
        for numeric_id, (place, target) in zip(ids, [(p, t) for p in places for t in targets], strict=True):
            view = views[numeric_id]
            assert view["status"] == 2, (example.name, view)
            check_ui_fields(view, finished=True)
            sent = _host_view(numeric_id)
            assert sent["script_name"] == example.script
            assert (sent["serial"] or sent["username"]) == place, (example.name, sent)
            assert sent["sim"]["undocumented"] == [], (example.name, sent["sim"])
            assert set(sent["sim"]["body_fields"]) <= TOP_LEVEL
            assert sent["sim"]["enable_multi_account"] is expected_multi(example), example.name
            for key, value in expected_host_config(example, target).items():
                assert sent["script_config"][key] == value, (example.name, key, sent["script_config"])
            for key in ("min_interval", "max_interval"):
                assert sent["sim"].get(key) == example.body.get(key), (example.name, key)


def test_the_clients_request_sequence_and_the_fields_they_read(local_stack: RunningStack,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    local_stack.use_env(monkeypatch)
    headers = _account(local_stack)
    _, licence = local_stack.get("/api/v1/license/check", headers=headers)
    assert licence["code"] == 0 and licence["data"]["api_enabled"] is True
    status, reply = local_stack.post("/api/v1/task", {"serials": ["device_serial_2"], "script_name": "follow",
                                                      "script_config": {"target_user": "@held_a,@held_b",
                                                                        "comment": "sim:hold"}}, headers=headers)
    assert reply["code"] == 0 and reply["data"]["created_count"] == 2, reply
    first, second = reply["data"]["task_ids"]
    # examples.md: GET /task?status=0&page=1&page_size=20, the auto-retry sample's GET /task?status=3 (data.total)
    _, pending = local_stack.get("/api/v1/task?status=0&page=1&page_size=20", headers=headers)
    assert pending["code"] == 0 and {"tasks", "total", "page", "page_size"} <= set(pending["data"])
    for view in pending["data"]["tasks"]:
        check_ui_fields(view, finished=False)
    deadline = time.monotonic() + 90
    while local_stack.get(f"/api/v1/task/{first}", headers=headers)[1]["data"]["status"] != 1:
        assert time.monotonic() < deadline, "the held task never ran on the host"
        time.sleep(0.5)
    local_stack.settle()  # the counters follow the tasks stream
    _, stats = local_stack.get("/api/v1/task/stats", headers=headers)
    assert {k: stats["data"][k] for k in ("total", "pending", "running", "completed", "failed")} == {
        "total": 2, "pending": 1, "running": 1, "completed": 0, "failed": 0}
    _, running = local_stack.get(f"/api/v1/task/{first}", headers=headers)
    assert WALL.match(running["data"]["start_time"]) and running["data"]["end_time"] == ""
    assert isinstance(running["data"]["duration_seconds"], int)
    for numeric_id in (first, second):
        _, stopped = local_stack.post(f"/api/v1/task/{numeric_id}/stop", headers=headers)
        assert stopped["code"] == 0 and stopped["data"]["status"] == 3 and stopped["data"]["remark"] == "stopped"
    local_stack.settle()  # the total follows the tasks stream
    _, failed = local_stack.get("/api/v1/task?status=3", headers=headers)
    assert failed["data"]["total"] == 2
    _, retried = local_stack.post(f"/api/v1/task/{first}/retry", headers=headers)
    assert retried["code"] == 0 and retried["data"]["retry_count"] == 1 and retried["data"]["status"] == 0
    _, everything = local_stack.post("/api/v1/task/retry-all", headers=headers)
    assert everything == {"code": 0, "message": "success", "data": 1}  # the number reset (§7)
    for numeric_id in (first, second):
        local_stack.post(f"/api/v1/task/{numeric_id}/stop", headers=headers)
    status, deleted, _ = local_stack.request("DELETE", f"/api/v1/task/{first}", headers=headers)
    assert status == 200 and deleted["code"] == 0
    status, batch, _ = local_stack.request("DELETE", "/api/v1/task/batch", headers=headers,
                                           body={"task_ids": [first, second]})
    assert batch["data"]["deleted_ids"] == [second] and batch["data"]["not_found_ids"] == [first]
