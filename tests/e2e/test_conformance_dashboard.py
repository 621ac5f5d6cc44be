"""Dashboard conformance on the local stack: new-api's two web UIs' request sequences, replayed as they send
them (newapi-relay-wire.md §4.1-4.4), and every field their columns read.

- v1.0 UI (since July 2026) and personal-access-token scripts: `Authorization: Bearer <token>` and
  `Cache-Control: no-store`, no `New-Api-User`; paths without a trailing slash; only non-empty params;
  page size 100; default window today 00:00 -> now + 1 h (seconds for tasks, milliseconds for MJ).
- classic UI (and scripts copied from the documentation): `New-API-User: <id>` with the token; empty
  `task_id=` / `mj_id=` / `channel_id=` always present; `/api/mj/self/` with a trailing slash; page size 10;
  MJ window now - 30 days -> now + 1 h in milliseconds.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack
from tests.support import Account

pytestmark = pytest.mark.e2e

DEADLINE_S = 90.0
TASK_COLUMNS = {"submit_time", "finish_time", "platform", "action", "task_id", "status", "progress", "fail_reason",
                "data", "user_id"}
MJ_COLUMNS = {"submit_time", "finish_time", "action", "mj_id", "status", "progress", "image_url", "prompt",
              "prompt_en", "fail_reason"}


def v1_headers(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.access_token}", "Cache-Control": "no-store"}


def classic_headers(account: Account) -> dict[str, str]:
    return {"New-API-User": str(account.user_id), "Authorization": account.access_token,
            "Cache-Control": "no-store"}


def default_window_s() -> tuple[int, int]:
    """The UIs' window when the user picked none: today 00:00 (the browser's zone; UTC here) to now + 1 h."""
    now = time.time()
    midnight = calendar.timegm(time.gmtime(now)[:3] + (0, 0, 0, 0, 0, 0))
    return midnight, int(now) + 3600


def _page(stack: RunningStack, path: str, headers: dict[str, str]) -> dict[str, Any]:
    stack.settle()  # totals follow the tasks stream: read as a dashboard does, after the writes settled
    status, body = stack.get(path, headers=headers)
    assert status == 200 and body["success"] is True and body["message"] == "", (path, body)
    data = body["data"]
    assert set(data) == {"page", "page_size", "total", "items"} and isinstance(data["items"], list), path
    return data


def _progress_number(progress: str) -> float:
    """The UIs parse progress as a number followed by %."""
    found = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)%", progress)
    assert found, progress
    return float(found.group(1))


def _finished_suno_task(stack: RunningStack) -> str:
    status, body = stack.post("/suno/submit/music", {"prompt": "a dashboard song", "tags": "pop"},
                              headers=stack.demo.relay_headers())
    assert status == 200, body
    return str(body["data"])


def _mj_task(stack: RunningStack) -> str:
    status, body = stack.post("/mj/submit/imagine", {"prompt": "a dashboard fox"}, headers=stack.demo.relay_headers())
    assert status == 200 and body["code"] == 1, body
    return str(body["result"])


def _wait_done(stack: RunningStack, task_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        body = stack.get(f"/suno/fetch/{task_id}", headers=stack.demo.relay_headers())[1]
        if body["data"]["status"] in ("SUCCESS", "FAILURE"):
            return
        time.sleep(1)  # the stack's poller works on its own schedule; bounded by the deadline
    pytest.fail(f"{task_id} did not finish in {DEADLINE_S}s")


def _check_task_item(item: dict[str, Any], *, admin: bool) -> None:
    assert set(item) >= TASK_COLUMNS, set(item)
    assert isinstance(item["submit_time"], int) and item["submit_time"] < 10**11  # seconds
    _progress_number(item["progress"])
    assert isinstance(item["channel_id"], int) and (admin or item["channel_id"] == 0)  # users see no channel
    if admin:
        assert item.get("username") or item["user_id"]  # the column falls back to user_id
    if item["platform"] == "suno" and item["action"] == "MUSIC" and item["status"] == "SUCCESS":
        assert isinstance(item["data"], list) and item["data"][0]["audio_url"].startswith("http")  # audio preview


def _check_mj_item(item: dict[str, Any], *, admin: bool) -> None:
    assert set(item) >= MJ_COLUMNS, set(item)
    assert item["submit_time"] > 10**12  # milliseconds
    _progress_number(item["progress"])
    assert isinstance(item["image_url"], str) and isinstance(item["prompt_en"], str)
    if admin:
        assert isinstance(item["code"], int) and isinstance(item["channel_id"], int)  # the admin-only columns


def test_the_v1_ui_and_personal_access_token_scripts(local_stack: RunningStack) -> None:
    stack = local_stack
    suno_id, mj_id = _finished_suno_task(stack), _mj_task(stack)
    _wait_done(stack, suno_id)
    start, end = default_window_s()
    status, me = stack.get("/api/user/self", headers=v1_headers(stack.demo))
    assert status == 200 and me["data"]["id"] == stack.demo.user_id
    for account, admin, tasks_path, mj_path in ((stack.demo, False, "/api/task/self", "/api/mj/self"),
                                                (stack.admin, True, "/api/task", "/api/mj")):
        data = _page(stack, f"{tasks_path}?p=1&page_size=100&start_timestamp={start}&end_timestamp={end}",
                     v1_headers(account))
        assert data["page"] == 1 and data["page_size"] == 100
        items = {i["task_id"]: i for i in data["items"]}
        assert suno_id in items, "the default window must hold a task submitted now"
        assert items[suno_id]["status"] == "SUCCESS" and (items[suno_id]["channel_id"] > 0) == admin
        for item in data["items"]:
            _check_task_item(item, admin=admin)
        data = _page(stack, f"{mj_path}?p=1&page_size=100&start_timestamp={start * 1000}"
                            f"&end_timestamp={end * 1000}", v1_headers(account))
        assert mj_id in [i["mj_id"] for i in data["items"]]
        for item in data["items"]:
            _check_mj_item(item, admin=admin)
        # The filled-in search fields, sent only when non-empty.
        one = _page(stack, f"{tasks_path}?p=1&page_size=100&task_id={suno_id}&start_timestamp={start}"
                           f"&end_timestamp={end}", v1_headers(account))
        assert [i["task_id"] for i in one["items"]] == [suno_id]
    # On 401 the UI refreshes its token: the status and AUTH_ code must be new-api's.
    status, body = stack.get("/api/task/self?p=1&page_size=100", headers={"Authorization": "Bearer expired-or-bad"})
    assert status == 401 and body["success"] is False and body["code"] == "AUTH_UNAUTHORIZED"
    status, body = stack.get("/api/task?p=1&page_size=100", headers=v1_headers(stack.demo))
    assert status == 403 and body["code"] == "AUTH_INSUFFICIENT_PRIVILEGE"


def test_the_classic_ui_and_documented_scripts(local_stack: RunningStack) -> None:
    stack = local_stack
    suno_id, mj_id = _finished_suno_task(stack), _mj_task(stack)
    start, end = default_window_s()
    now_ms = int(time.time() * 1000)
    mj_start, mj_end = now_ms - 30 * 86_400_000, now_ms + 3_600_000
    calls = [
        (stack.demo, False, f"/api/task/self?p=1&page_size=10&task_id=&start_timestamp={start}&end_timestamp={end}",
         "task"),
        (stack.demo, False, f"/api/mj/self/?p=1&page_size=10&mj_id=&start_timestamp={mj_start}&end_timestamp={mj_end}",
         "mj"),
        (stack.admin, True, f"/api/task/?p=1&page_size=10&channel_id=&task_id=&start_timestamp={start}"
                            f"&end_timestamp={end}", "task"),
        (stack.admin, True, f"/api/mj/?p=1&page_size=10&channel_id=&mj_id=&start_timestamp={mj_start}"
                            f"&end_timestamp={mj_end}", "mj"),
    ]
    for account, admin, path, kind in calls:
        data = _page(stack, path, classic_headers(account))
        assert data["page_size"] == 10 and len(data["items"]) <= 10, path
        assert data["total"] >= 1, path
        for item in data["items"]:
            (_check_task_item if kind == "task" else _check_mj_item)(item, admin=admin)
    wanted = _page(stack, f"/api/mj/self/?p=1&page_size=10&mj_id={mj_id}&start_timestamp={mj_start}"
                          f"&end_timestamp={mj_end}", classic_headers(stack.demo))
    assert [i["mj_id"] for i in wanted["items"]] == [mj_id]
    assert suno_id
    # New-Api-User must still name the token's user; the classic shape has no code.
    status, body = stack.get("/api/task/self?p=1&page_size=10",
                             headers={**classic_headers(stack.demo), "New-API-User": str(stack.admin.user_id)})
    assert status == 401 and body["success"] is False and "code" not in body


def test_every_path_form_and_page_size_spelling_is_answered_directly(local_stack: RunningStack) -> None:
    stack = local_stack
    headers = v1_headers(stack.admin)
    for path in ("/api/task/self", "/api/task/self/", "/api/task", "/api/task/", "/api/mj/self", "/api/mj/self/",
                 "/api/mj", "/api/mj/", "/api/user/self", "/api/user/self/"):
        status, body = stack.get(path, headers=headers)
        assert status == 200 and body["success"] is True, (path, status, body)
    for query, size in (("", 20), ("page_size=7", 7), ("ps=5", 5), ("size=4", 4), ("page_size=0&ps=3", 3),
                        ("page_size=1000", 100)):
        assert _page(stack, f"/api/task/self?{query}", headers)["page_size"] == size, query
        assert _page(stack, f"/api/mj/self?{query}", headers)["page_size"] == size, query
