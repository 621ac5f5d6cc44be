"""Dashboard rows as new-api shows them (newapi-relay-wire.md §4.3; issue 14): MJ rows carry `code`,
`buttons`, `properties` (JSON strings), `state`, and `user_id` / `channel_id` for users too; task rows carry
`group` and `result_url`; a refunded task's `quota` is 0. Each assertion below failed before the fix."""

from __future__ import annotations

import json
from typing import Any

from taskcenter.services.core import lifecycle
from taskcenter.store import money
from taskcenter.store.models import Task

from tests.integration import suno_support
from tests.integration.suno_support import call, listing, submit
from tests.integration.test_mj_relay import advance_and_poll, get, mj, post

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world
__all__ = ["mj"]

MJ_ROW_KEYS = {"id", "code", "user_id", "action", "mj_id", "prompt", "prompt_en", "description", "state",
               "submit_time", "start_time", "finish_time", "image_url", "video_url", "video_urls", "status",
               "progress", "fail_reason", "channel_id", "quota", "buttons", "properties"}


def _mj_row(client: Any, account: Any, mj_id: str, *, admin: bool = False) -> dict[str, Any]:
    path = "/api/mj" if admin else "/api/mj/self"
    status, page = get(client, f"{path}?mj_id={mj_id}", account.dashboard_headers())
    assert status == 200 and len(page["data"]["items"]) == 1, page
    return page["data"]["items"][0]


def test_mj_rows_have_new_apis_columns_for_users_and_admins(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox sim:queued", "state": "order-7"}, h)
    assert status == 200, reply
    mj_id = reply["result"]
    row = _mj_row(client, mj.user, mj_id)
    assert set(row) == MJ_ROW_KEYS
    assert row["code"] == 22  # the submit's code until the upstream shows the task running (the UI's column)
    assert row["user_id"] == mj.user.user_id and row["channel_id"] == mj.channels["midjourney"]
    assert row["state"] == "order-7" and row["buttons"] == "" and row["video_urls"] == ""
    for _ in range(4):
        done = advance_and_poll(mj_id)
    assert done.status == "SUCCESS"
    for account, admin in ((mj.user, False), (mj.admin, True)):
        row = _mj_row(client, account, mj_id, admin=admin)
        assert set(row) == MJ_ROW_KEYS and row["code"] == 1 and row["status"] == "SUCCESS"
        buttons = json.loads(row["buttons"])  # JSON strings, as new-api's raw rows
        assert [b["label"] for b in buttons][:4] == ["U1", "U2", "U3", "U4"] and all("customId" in b for b in buttons)
        assert set(json.loads(row["properties"])) >= {"finalPrompt"}

    # A failed, refunded task shows quota 0 (new-api zeroes it with the refund); charged until then.
    failing = post(client, "/mj/submit/imagine", {"prompt": "a sim:fail cat"}, h)[1]["result"]
    for _ in range(4):
        advance_and_poll(failing)
    assert Task.get(failing).status == "FAILURE"
    assert _mj_row(client, mj.user, failing)["quota"] > 0  # refund owed, not yet paid
    assert money.refund_task(failing, 1)
    row = _mj_row(client, mj.user, failing)
    assert row["quota"] == 0 and row["fail_reason"] and row["status"] == "FAILURE"


def test_task_rows_carry_group_result_url_and_zero_quota_after_a_refund(client: Any, suno_world: Any,
                                                                        suno_sim: Any) -> None:
    world = suno_world
    status, body, _ = submit(client, world.user, body={"prompt": "a calm song"})
    assert status == 200, body
    good = body["data"]
    status, body, _ = submit(client, world.user)
    failed = body["data"]
    lost = Task.get(failed)  # failed later (an upstream failure, the sweeper) and refunded
    assert lifecycle.fail_task(lost, "the upstream lost the task", refund_now=True)
    for account, admin in ((world.user, False), (world.admin, True)):
        status, page = listing(client, account, admin=admin)
        rows = {r["task_id"]: r for r in page["data"]["items"]}
        assert rows[good]["group"] == "default" and rows[good]["quota"] > 0 and "result_url" not in rows[good]
        assert rows[failed]["quota"] == 0  # refunded
        assert rows[failed]["result_url"] == rows[failed]["fail_reason"] != ""  # new-api's fallback
        assert rows[good]["channel_id"] == (world.channels["suno"] if admin else 0)
    status, body, _ = call(client, "GET", f"/suno/fetch/{failed}", world.user.relay_headers())
    assert body["data"]["quota"] == 0 and body["data"]["result_url"] == body["data"]["fail_reason"]
