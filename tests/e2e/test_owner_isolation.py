"""Owner isolation on the local stack (issue 7 item 3): another user's task is invisible on every route.

The demo user submits a Suno, a Midjourney and a Task API v1 task, each carrying a unique marker. A second
user then calls every route that can name a task (fetches, batch fetches, listings with filters, MJ
actions on the task, v1 get/delete/stop/retry/batch delete/list/stats). No answer may contain the marker
or report the demo user's task, and the demo user's tasks and balance must be exactly as before.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack
from tests.support import Account

pytestmark = pytest.mark.e2e


def _second_user(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Account:
    stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin

    name = "intruder" + secrets.token_hex(3)
    user = admin.create_user(name, quota=5_000_000, plan="Pro")
    access = admin.issue_credential(user["id"], "access")
    key = admin.issue_credential(user["id"], "key")
    return Account(user["id"], name, access["token"], key["token"], key["token_hash"])


def _demo_state(stack: RunningStack) -> dict[str, Any]:
    headers = stack.demo.dashboard_headers()
    _, user = stack.get("/api/user/self", headers=headers)
    _, tasks = stack.get("/api/task/self?page_size=100", headers=headers)
    _, mj = stack.get("/api/mj/self?page_size=100", headers=headers)
    return {"quota": user["data"]["quota"],
            "tasks": sorted(t["task_id"] for t in tasks["data"]["items"]),
            "mj": sorted(t["mj_id"] for t in mj["data"]["items"])}


def test_a_user_never_sees_or_touches_another_users_task(local_stack: RunningStack,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "marker-" + secrets.token_hex(6)
    relay = local_stack.demo.relay_headers()
    status, suno = local_stack.post("/suno/submit/music", {"prompt": marker, "title": marker}, headers=relay)
    assert status == 200 and suno["code"] == "success", suno
    suno_id = suno["data"]
    status, mj = local_stack.post("/mj/submit/imagine", {"prompt": marker}, headers=relay)
    assert status == 200 and mj["code"] == 1, mj
    mj_id = mj["result"]
    serial = next(d for c in local_stack.channels if c["type"] == "tikmatrix" for d in c.get("devices", []))
    status, v1 = local_stack.post("/api/v1/task", {"serials": [serial], "script_name": "post", "script_config": {
        "content_type": 0, "captions": marker, "material_list": ["C:/Videos/v.mp4"], "upload_wait_time": 60}},
        headers={"Authorization": f"Bearer {local_stack.demo.api_key}"})
    assert status == 200 and v1["code"] == 0, v1
    v1_id = v1["data"]["task_ids"][0]
    before = _demo_state(local_stack)
    assert suno_id in before["tasks"] and mj_id in before["mj"]
    # Positive control: the owner does see the marker through the same routes.
    owner_v1 = {"Authorization": f"Bearer {local_stack.demo.api_key}"}
    for path, headers, shown in ((f"/suno/fetch/{suno_id}", relay, suno_id), (f"/mj/task/{mj_id}/fetch", relay, marker),
                                 (f"/api/v1/task/{v1_id}", owner_v1, marker)):
        status, reply = local_stack.get(path, headers=headers)
        assert status == 200 and shown in json.dumps(reply), (path, reply)

    bob = _second_user(local_stack, monkeypatch)
    dash = bob.dashboard_headers()
    key = bob.relay_headers()
    v1h = {"Authorization": f"Bearer {bob.api_key}", "Content-Type": "application/json"}
    calls: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", f"/suno/fetch/{suno_id}", None, key),
        ("POST", "/suno/fetch", {"ids": [suno_id, mj_id, f"v1_{v1_id}"]}, key),
        ("GET", f"/mj/task/{mj_id}/fetch", None, key),
        ("POST", "/mj/task/list-by-condition", {"ids": [mj_id, suno_id]}, key),
        ("POST", "/mj/submit/change", {"taskId": mj_id, "action": "UPSCALE", "index": 1}, key),
        ("POST", "/mj/submit/action", {"taskId": mj_id, "customId": f"MJ::JOB::upsample::1::{mj_id}"}, key),
        ("POST", "/mj/submit/modal", {"taskId": mj_id, "prompt": "x"}, key),
        ("GET", f"/api/task/self?task_id={suno_id}", None, dash),
        ("GET", "/api/task/self?page_size=100", None, dash),
        ("GET", f"/api/mj/self?mj_id={mj_id}", None, dash),
        ("GET", "/api/mj/self?page_size=100", None, dash),
        ("GET", f"/api/v1/task/{v1_id}", None, v1h),
        ("POST", f"/api/v1/task/{v1_id}/stop", None, v1h),
        ("POST", f"/api/v1/task/{v1_id}/retry", None, v1h),
        ("DELETE", "/api/v1/task/batch", {"task_ids": [v1_id]}, v1h),
        ("DELETE", f"/api/v1/task/{v1_id}", None, v1h),
        ("GET", "/api/v1/task?page_size=100", None, v1h),
        ("GET", f"/api/v1/task?serial={serial}", None, v1h),
    ]
    for method, path, body, headers in calls:
        status, reply, _ = local_stack.request(method, path, headers=headers, body=body)
        text = json.dumps(reply) if not isinstance(reply, bytes) else reply.decode(errors="replace")
        where = f"{method} {path} -> {status} {text[:300]}"
        assert status < 500, where
        assert marker not in text, f"leak: {where}"
        if status == 200 and isinstance(reply, dict):
            data = reply.get("data")
            if isinstance(data, dict) and "items" in data:
                assert data["items"] == [] or all(
                    (item.get("task_id") or item.get("mj_id") or item.get("id")) not in {suno_id, mj_id, v1_id}
                    for item in data["items"]), f"leak: {where}"
                if "total" in data and path.endswith(("task_id=" + suno_id, "mj_id=" + mj_id)):
                    assert data["total"] == 0, where
            if path.startswith("/api/v1/task/") and method != "GET":
                assert reply.get("code") == 40401 or data in (None, {}, []) or "deleted" in text, where
        if path.startswith("/api/v1/task/") and path.split("?")[0].count("/") >= 4 and "batch" not in path:
            assert reply.get("code") == 40401, where  # another user's v1 task is "not found" on every route
        if path.startswith("/suno/fetch/"):
            assert (status, reply.get("code")) == (400, "task_not_exist"), where
        if path in ("/suno/fetch", "/mj/task/list-by-condition"):
            assert (reply.get("data") if path == "/suno/fetch" else reply) == [], where
    status, stats = local_stack.get("/api/v1/task/stats", headers=v1h)
    assert status == 200 and stats["data"]["total"] == 0, stats

    after = _demo_state(local_stack)
    assert after["tasks"] == before["tasks"] and after["mj"] == before["mj"]
    status, task = local_stack.get(f"/api/v1/task/{v1_id}",
                                   headers={"Authorization": f"Bearer {local_stack.demo.api_key}"})
    assert status == 200 and task["code"] == 0, "the owner's v1 task was touched by another user"
