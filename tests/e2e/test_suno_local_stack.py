"""End to end on the local stack over HTTP: the seeded Suno simulator channel, the relay, and both
dashboard listings, as a client written against the reference documents would call them."""

from __future__ import annotations

import time
import uuid

import pytest

from infra.simulators.suno import SUBMIT_MESSAGE
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def test_submit_fetch_and_list_a_suno_task(local_stack: RunningStack) -> None:
    stack = local_stack
    assert any(c["type"] == "suno" for c in stack.channels), stack.channels
    relay = stack.demo.relay_headers()
    key = {"Idempotency-Key": f"e2e-{uuid.uuid4()}"}
    status, body = stack.post("/suno/submit/music", {"prompt": "a calm song about the sea", "tags": "ambient"},
                              headers={**relay, **key})
    assert status == 200 and body["code"] == "success" and body["message"] == SUBMIT_MESSAGE, body  # upstream's
    task_id = body["data"]
    assert stack.post("/suno/submit/music", {"prompt": "a calm song about the sea", "tags": "ambient"},
                      headers={**relay, **key}) == (200, body)  # same key: the same task, charged once

    status, body = stack.get(f"/suno/fetch/{task_id}", headers=relay)
    assert status == 200 and body["data"]["task_id"] == task_id and body["data"]["action"] == "MUSIC"
    status, body = stack.post("/suno/fetch", {"ids": [task_id, "task_nope"]}, headers=relay)
    assert status == 200 and [t["task_id"] for t in body["data"]] == [task_id]
    status, body = stack.get("/suno/fetch/task_nope", headers=relay)
    assert status == 400 and body == {"code": "task_not_exist", "message": "task_not_exist", "data": None}

    # The reference's request example, unchanged apart from the ids (New-Api-User: Bearer <id>).
    stack.settle()  # its total follows the tasks stream
    now = int(time.time())
    query = (f"p=1&page_size=20&platform=suno&task_id={task_id}&status=&action=MUSIC"
             f"&start_timestamp={now - 3600}&end_timestamp={now + 3600}")
    status, body = stack.get(f"/api/task/self?{query}", headers=stack.demo.dashboard_headers())
    assert status == 200 and body["success"] is True and body["message"] == ""
    assert set(body["data"]) == {"items", "total", "page", "page_size"} and body["data"]["total"] == 1
    item = body["data"]["items"][0]
    assert item["task_id"] == task_id and item["quota"] == 50_000 and item["platform"] == "suno"
    assert "_submit" not in item["properties"] and item["channel_id"] == 0  # new-api zeroes it for users
    status, body = stack.get(f"/api/task/?{query}", headers=stack.admin.dashboard_headers())
    assert status == 200 and body["data"]["items"][0]["channel_id"] > 0
    assert body["data"]["items"][0]["username"] == stack.demo.username
    # The admin example's filters together (channel + action + status + platform + time range): one index.
    channel = body["data"]["items"][0]["channel_id"]
    status, body = stack.get(f"/api/task/?p=1&page_size=20&channel_id={channel}&platform=suno&action=MUSIC"
                             f"&start_timestamp={now - 3600}&end_timestamp={now + 3600}",
                             headers=stack.admin.dashboard_headers())
    assert status == 200 and task_id in [i["task_id"] for i in body["data"]["items"]]
    status, body = stack.get("/api/task/?p=1", headers=stack.demo.dashboard_headers())
    assert status == 403 and body["success"] is False

    # With the event runner up, the engine follows the task to the end through the simulator.
    if not any("runner" in name for name in stack.components):
        return
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, body = stack.get(f"/suno/fetch/{task_id}", headers=relay)
        if body["data"]["status"] in ("SUCCESS", "FAILURE"):
            break
        time.sleep(1)  # polling the local stack: bounded by the deadline
    assert body["data"]["status"] == "SUCCESS" and body["data"]["progress"] == "100%", body
    assert isinstance(body["data"]["data"], list) and body["data"]["data"][0]["audio_url"]
