"""Task API v1 on the local stack over HTTP: the reference document's curl example, unchanged, creates a task
that the event runner starts on the simulated TikMatrix host and follows to completion; stop of a running
task refunds it; batch delete sends its ids in a DELETE body through the real HTTP server.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from infra.local.components.tikmatrix_sim import REFERENCE_BODY, REFERENCE_CURL
from tests.e2e.conftest import RunningStack
from tests.support import Account

pytestmark = pytest.mark.e2e

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "tikmatrix-task-api.md"
DEADLINE_S = 90.0


# The create example as tikmatrix-task-api.md prints it (checked against the document when it is at hand).


def reference_curl() -> str:
    if REFERENCE.exists():
        block = re.search(r"```bash\n(curl -X POST http://localhost:50809/api/v1/task.*?)```", REFERENCE.read_text(),
                          re.S)
        assert block and block.group(1).strip() == REFERENCE_CURL
    return REFERENCE_CURL


def fresh_account(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Account:
    stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin

    name = "tm" + secrets.token_hex(4)
    user = admin.create_user(name, quota=5_000_000, plan="Pro")
    access = admin.issue_credential(user["id"], "access")
    key = admin.issue_credential(user["id"], "key")
    return Account(user["id"], name, access["token"], key["token"], key["token_hash"])


def wait_status(stack: RunningStack, task_id: int, headers: dict[str, str], wanted: set[int]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, reply = stack.get(f"/api/v1/task/{task_id}", headers=headers)
        assert status == 200 and reply["code"] == 0, reply
        view = reply["data"]
        if view["status"] in wanted:
            return view
        time.sleep(0.5)  # the event runner works on its own schedule; the test only watches
    pytest.fail(f"v1 task {task_id} did not reach {wanted} in {DEADLINE_S}s: {view}")


def test_reference_curl_example_runs_unchanged_and_the_task_completes(local_stack: RunningStack) -> None:
    compat = local_stack.env.get("TIKMATRIX_COMPAT_URL")
    assert compat, "the tikmatrix component did not start its compat listener"
    command = reference_curl()
    if not compat.endswith(":50809"):  # 50809 was taken on this machine: the stack said which port it used
        command = command.replace("localhost:50809", compat.split("//", 1)[1])
    if shutil.which("curl") is not None:
        out = subprocess.run(["bash", "-c", command + " -s"], capture_output=True, text=True, timeout=60, check=True)
        reply = json.loads(out.stdout)
    else:  # no curl on this machine: the same request (the example's URL, header and body) with urllib
        request = urllib.request.Request(compat + "/api/v1/task", data=json.dumps(REFERENCE_BODY).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the local stack
            reply = json.loads(answer.read())
    assert reply["code"] == 0 and reply["message"] == "success", reply
    assert reply["data"]["created_count"] == 1 and len(reply["data"]["task_ids"]) == 1
    task_id = reply["data"]["task_ids"][0]
    headers = {"Authorization": f"Bearer {local_stack.demo.api_key}"}
    done = wait_status(local_stack, task_id, headers, {2, 3})
    assert done["status"] == 2 and done["serial"] == "device_serial_1" and done["finished_at"], done
    local_stack.settle()  # the counters follow the tasks stream
    status, stats = local_stack.get("/api/v1/task/stats", headers=headers)
    assert stats["code"] == 0 and stats["data"]["completed"] >= 1


def test_stop_running_task_refunds_and_batch_delete_takes_a_body(local_stack: RunningStack,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    account = fresh_account(local_stack, monkeypatch)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    status, reply = local_stack.post("/api/v1/task", {
        "serials": ["device_serial_2", "device_serial_3"], "script_name": "post",
        "script_config": {"material_list": ["C:/v.mp4"], "captions": "sim:hold"}}, headers=headers)
    assert reply["code"] == 0, reply
    first, second = reply["data"]["task_ids"]
    _, me = local_stack.get("/api/user/self", headers=account.dashboard_headers())
    charged = me["data"]["quota"]
    wait_status(local_stack, first, headers, {1})
    status, reply = local_stack.post(f"/api/v1/task/{first}/stop", headers=headers)
    assert (reply["code"], reply["data"]["status"], reply["data"]["error"]) == (0, 3, "stopped"), reply
    _, me = local_stack.get("/api/user/self", headers=account.dashboard_headers())
    assert me["data"]["quota"] > charged  # the stopped task's charge came back

    status, reply, _ = local_stack.request("DELETE", "/api/v1/task/batch", headers=headers,
                                           body={"task_ids": [first, second]})
    assert status == 200 and reply["data"]["deleted_count"] == 2, reply
    status, reply = local_stack.get(f"/api/v1/task/{second}", headers=headers)
    assert (status, reply["code"]) == (404, 40401)
    local_stack.settle()  # the counters follow the tasks stream (the deletes' REMOVE records)
    _, stats = local_stack.get("/api/v1/task/stats", headers=headers)
    assert stats["data"]["total"] == 0


def test_a_login_password_is_masked_over_http_and_reaches_the_simulated_host(local_stack: RunningStack,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 9 on the local stack: moto's KMS seals it, the event runner's retry worker opens it."""
    account = fresh_account(local_stack, monkeypatch)
    headers = {"Authorization": f"Bearer {account.api_key}"}
    login, password = "acct_" + secrets.token_hex(4), "pw-" + secrets.token_hex(8)
    status, reply = local_stack.post("/api/v1/task", {
        "serials": ["device_serial_1"], "script_name": "login",
        "script_config": {"username": login, "password": password}}, headers=headers)
    assert reply["code"] == 0, reply
    task_id = reply["data"]["task_ids"][0]
    view = wait_status(local_stack, task_id, headers, {1, 2, 3})  # on the host
    assert view["script_config"]["password"] == "******" and password not in json.dumps(view)
    _, mine = local_stack.get("/api/task/self", headers=account.dashboard_headers())
    assert [i["properties"]["script_config"]["password"] for i in mine["data"]["items"]] == ["******"]

    from taskcenter.services.admin import operation_specs as admin_ops

    # Each simulated host once: other tests on this stack may add channels that point at the same simulator.
    hosts = {h["base_url"] for h in admin_ops.run({"op": "list_channels", "type": "tikmatrix"})["result"]}
    seen = []
    for base_url in sorted(hosts):
        with urllib.request.urlopen(base_url + "/api/v1/task?script_name=login&page_size=100",  # noqa: S310
                                    timeout=10) as answer:
            seen += [t["script_config"] for t in json.loads(answer.read())["data"]["tasks"]
                     if t["script_config"].get("username") == login]
    assert seen == [{"username": login, "password": password}]  # as given: login is documented with `{}`
