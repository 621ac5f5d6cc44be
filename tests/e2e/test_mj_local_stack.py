"""Midjourney on the local stack over HTTP: the simulator component, the API, the event runner's polling.

An imagine moves through progress to SUCCESS with a forwarded image that downloads; an upscale on it
works; a failed one is refunded (by the refund worker, through the queue). Polling is the real one:
first poll a few seconds after submission, then the fast-lane chain.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from infra.simulators.midjourney import PNG
from tests.support import Account

pytestmark = pytest.mark.e2e

DEADLINE_S = 90.0


def wait_for(stack: Any, task_id: str, headers: dict[str, str], statuses: set[str]) -> tuple[dict[str, Any], list]:
    """Fetch until the task reaches one of `statuses`; returns its view and the progress values seen."""
    seen: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        status, view = stack.get(f"/mj/task/{task_id}/fetch", headers=headers)
        assert status == 200, view
        if not seen or seen[-1] != view["progress"]:
            seen.append(view["progress"])
        if view["status"] in statuses:
            return view, seen
        time.sleep(0.5)  # the poller works on its own schedule; the test only watches
    pytest.fail(f"task {task_id} did not reach {statuses} in {DEADLINE_S}s (progress seen {seen})")


def fresh_account(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Account:
    """A user of our own: other tests' refunds on the shared demo user cannot move our balance."""
    stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin

    name = "mjfox" + secrets.token_hex(3)
    user = admin.create_user(name, quota=5_000_000, plan="Pro")
    access = admin.issue_credential(user["id"], "access")
    key = admin.issue_credential(user["id"], "key")
    return Account(user["id"], name, access["token"], key["token"], key["token_hash"])


def user_quota(stack: Any, account: Account) -> int:
    status, body = stack.get("/api/user/self", headers=account.dashboard_headers())
    assert status == 200
    return int(body["data"]["quota"])


def test_imagine_to_success_with_forwarded_image_then_upscale_and_a_refunded_failure(
        local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert any(c["type"] == "midjourney" for c in local_stack.channels)
    account = fresh_account(local_stack, monkeypatch)
    h = account.relay_headers()
    before = user_quota(local_stack, account)

    status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "a red fox in the snow"}, headers=h)
    assert status == 200 and reply["code"] == 1 and reply["result"], reply
    failing_status, failing = local_stack.post("/mj/submit/imagine", {"prompt": "sim:fail a broken fox"}, headers=h)
    assert failing_status == 200 and failing["code"] == 1
    task_id = reply["result"]

    view, progress = wait_for(local_stack, task_id, h, {"SUCCESS", "FAILURE"})
    assert view["status"] == "SUCCESS", view
    assert len(progress) >= 2 and progress[-1] == "100%"  # seen moving, not only the end
    assert view["imageUrl"] == f"{local_stack.api_url}/mj/image/{task_id}"
    status, body, headers = local_stack.request("GET", f"/mj/image/{task_id}", headers={"Accept": "*/*"})
    # served by our route, or by the results bucket once the keeper copied it (a redirect): header case varies
    assert status == 200 and body == PNG and {k.lower(): v for k, v in headers.items()}["content-type"] == "image/png"

    upscale = next(b["customId"] for b in view["buttons"] if b["label"] == "U2")
    status, reply = local_stack.post("/mj/submit/action", {"taskId": task_id, "customId": upscale}, headers=h)
    assert status == 200 and reply["code"] == 1, reply
    up_view, _ = wait_for(local_stack, reply["result"], h, {"SUCCESS", "FAILURE"})
    assert up_view["status"] == "SUCCESS" and up_view["action"] == "UPSCALE" and up_view["imageUrl"]

    failed, _ = wait_for(local_stack, failing["result"], h, {"SUCCESS", "FAILURE"})
    assert failed["status"] == "FAILURE" and "simulated failure" in failed["failReason"]
    # imagine + upscale charged; the failed imagine refunded by the refund worker.
    expected = before - 50_000 - 25_000
    deadline = time.monotonic() + DEADLINE_S
    while user_quota(local_stack, account) != expected and time.monotonic() < deadline:
        time.sleep(0.5)  # the refund travels through the refund queue
    assert user_quota(local_stack, account) == expected

    status, page = local_stack.get("/api/mj/self?p=1&page_size=10", headers=account.dashboard_headers())
    assert status == 200 and page["success"] is True
    rows = {row["mj_id"]: row for row in page["data"]["items"]}
    assert rows[task_id]["status"] == "SUCCESS" and rows[task_id]["image_url"].endswith(f"/mj/image/{task_id}")
    assert rows[failing["result"]]["status"] == "FAILURE"
