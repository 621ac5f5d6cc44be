"""Midjourney relay end to end in-process: routes -> submission -> adapter -> simulated midjourney-proxy,
polling through the engine, image forwarding, dashboard listings, money.

The simulator runs on 127.0.0.1 (allow-listed for the test) and follows the test's frozen clock, so
progress moves exactly when the test advances time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.services.core import channels
from taskcenter.services.jobs import polling as engine
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry, Task, User

from infra.simulators.midjourney import PNG, MidjourneySimulator, SimConfig

STEP_S = 10  # simulator: seconds per progress step (4 steps to the end)
BASE = "https://tc.example.com"


@pytest.fixture
def mj(world: Any, frozen_clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sim = MidjourneySimulator(config=SimConfig(step_seconds=STEP_S), now_ms=clock.now_ms).start()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{sim.host}:{sim.port}")
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    from taskcenter.services.admin import operations as admin

    world.channels["midjourney"] = admin.create_channel("midjourney", sim.url, name="mj-sim",
                                                        secret="sim-secret")["id"]
    channels.clear_cache()
    world.extra["sim"] = sim
    yield world
    sim.stop()
    channels.clear_cache()


def post(client: Any, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    r = client.http.post(path, headers=headers, body=json.dumps(body) if not isinstance(body, str) else body)
    return r.status_code, json.loads(r.body) if r.body else None


def get(client: Any, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    r = client.http.get(path, headers=headers)
    return r.status_code, json.loads(r.body)


def poll(task_id: str) -> str:
    task = Task.get(task_id)
    result = engine.poll_batch(engine.PollMessage(int(task.channel_id), [task_id]))
    return result.outcomes.get(task_id, "")


def advance_and_poll(task_id: str, steps: int = 1) -> Task:
    clock.advance(STEP_S * steps)
    poll(task_id)
    return Task.get(task_id)


def quota(user_id: int) -> int:
    return int(User.get(user_id).quota)


def test_imagine_progress_image_upscale_change_listings(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    before = quota(mj.user.user_id)
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a red fox", "state": "mine"}, h)
    assert status == 200, reply
    assert reply["code"] == 1 and reply["description"] and reply["properties"] == {"discordInstanceId": "sim-instance"}
    task_id = reply["result"]
    assert task_id.isdigit()
    assert quota(mj.user.user_id) == before - 50_000  # mj_imagine 0.1 USD

    status, view = get(client, f"/mj/task/{task_id}/fetch", h)
    assert status == 200
    expected_fields = {"id", "action", "prompt", "promptEn", "description", "state", "submitTime", "startTime",
                       "finishTime", "imageUrl", "status", "progress", "failReason", "buttons", "properties"}
    assert expected_fields <= set(view)
    assert view["id"] == task_id and view["action"] == "IMAGINE" and view["status"] == "SUBMITTED"
    assert view["prompt"] == "a red fox" and view["state"] == "mine" and view["imageUrl"] == ""
    assert view["submitTime"] == clock.now_ms()

    seen = [advance_and_poll(task_id).progress for _ in range(3)]
    assert seen == ["25%", "50%", "75%"]
    assert Task.get(task_id).status == states.IN_PROGRESS
    done = advance_and_poll(task_id)
    assert done.status == states.SUCCESS and done.progress == "100%"

    status, view = get(client, f"/mj/task/{task_id}/fetch", h)
    assert view["status"] == "SUCCESS" and view["progress"] == "100%"
    assert view["imageUrl"] == f"{BASE}/mj/image/{task_id}"
    assert view["startTime"] > 0 and view["finishTime"] >= view["startTime"]
    labels = [b["label"] for b in view["buttons"]]
    assert labels[:4] == ["U1", "U2", "U3", "U4"] and "V2" in labels
    assert set(view["buttons"][0]) == {"customId", "emoji", "label", "type", "style"}

    # The forwarded image downloads, byte for byte, with its content type (no credentials needed).
    r = client.http.get(f"/mj/image/{task_id}", headers={"Accept": "*/*"})  # as browsers and curl send
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png" and r.body == PNG

    # Upscale U1 (button) and a VARIATION by index: both on the parent's channel, priced per action.
    upscale = view["buttons"][0]["customId"]
    before = quota(mj.user.user_id)
    status, reply = post(client, "/mj/submit/action", {"taskId": task_id, "customId": upscale}, h)
    assert status == 200 and reply["code"] == 1, reply
    up = Task.get(reply["result"])
    assert up.action == "UPSCALE" and up.parent_task_id == task_id
    assert int(up.channel_id) == mj.channels["midjourney"] and int(up.quota) == 25_000
    status, reply = post(client, "/mj/submit/change", {"taskId": int(task_id), "action": "VARIATION", "index": 2}, h)
    assert status == 200 and reply["code"] == 1, reply
    var_id = reply["result"]
    assert Task.get(var_id).action == "VARIATION"
    assert quota(mj.user.user_id) == before - 25_000 - 50_000
    done_up = advance_and_poll(up.task_id, 4)
    assert done_up.status == states.SUCCESS
    assert any("Vary" in b["label"] for b in get(client, f"/mj/task/{up.task_id}/fetch", h)[1]["buttons"])

    # list-by-condition: only the caller's tasks, in the order asked; others' and unknown ids left out.
    status, theirs = post(client, "/mj/submit/imagine", {"prompt": "bob's"}, mj.other.relay_headers())
    status, items = post(client, "/mj/task/list-by-condition",
                         {"ids": [var_id, theirs["result"], "123", int(task_id)]}, h)
    assert status == 200 and [i["id"] for i in items] == [var_id, task_id]

    # Dashboard: the caller's rows (newest first), new-api's raw rows (user and channel shown to users too).
    status, page = get(client, "/api/mj/self?p=1&page_size=2", mj.user.dashboard_headers())
    assert status == 200 and page["success"] is True and page["message"] == ""
    data = page["data"]
    assert data["total"] == 3 and data["page"] == 1 and data["page_size"] == 2
    assert [i["mj_id"] for i in data["items"]] == [var_id, up.task_id]
    row = data["items"][1]
    documented = {"id", "mj_id", "action", "prompt", "prompt_en", "status", "progress", "image_url", "video_url",
                  "video_urls", "submit_time", "start_time", "finish_time", "fail_reason", "quota"}
    assert documented <= set(row) and row["user_id"] == mj.user.user_id and row["channel_id"] > 0
    assert row["image_url"] == f"{BASE}/mj/image/{up.task_id}" and row["quota"] == 25_000
    assert row["submit_time"] > 1_000_000_000_000  # milliseconds
    status, one = get(client, f"/api/mj/self?mj_id={task_id}", mj.user.dashboard_headers())
    assert [i["mj_id"] for i in one["data"]["items"]] == [task_id] and one["data"]["total"] == 1
    status, none = get(client, f"/api/mj/self?mj_id={theirs['result']}", mj.user.dashboard_headers())
    assert none["data"]["items"] == [] and none["data"]["total"] == 0
    submit_ms = Task.get(task_id).submit_ms
    status, ranged = get(client, f"/api/mj/self?start_timestamp={submit_ms}&end_timestamp={submit_ms}",
                         mj.user.dashboard_headers())
    assert [i["mj_id"] for i in ranged["data"]["items"]] == [task_id]

    status, admin_page = get(client, f"/api/mj/?channel_id={mj.channels['midjourney']}", mj.admin.dashboard_headers())
    assert status == 200 and admin_page["data"]["total"] == 4
    first = admin_page["data"]["items"][0]
    assert first["user_id"] == mj.other.user_id and first["channel_id"] == mj.channels["midjourney"]
    assert get(client, "/api/mj", mj.user.dashboard_headers())[0] == 403

    # Without PUBLIC_BASE_URL the forwarded URL is built from the request's host (and forwarded scheme).
    import os

    del os.environ["PUBLIC_BASE_URL"]
    try:
        view = get(client, f"/mj/task/{task_id}/fetch", {**h, "Host": "tc.local:8000"})[1]
        assert view["imageUrl"] == f"http://tc.local:8000/mj/image/{task_id}"
        view = get(client, f"/mj/task/{task_id}/fetch", {**h, "Host": "tc.example.org",
                                                         "X-Forwarded-Proto": "https"})[1]
        assert view["imageUrl"] == f"https://tc.example.org/mj/image/{task_id}"
    finally:
        os.environ["PUBLIC_BASE_URL"] = BASE

    # Forwarding switched off: listings show the upstream's URL and the route says it is off.

    os.environ["MJ_FORWARD_IMAGES"] = "false"
    try:
        status, view = get(client, f"/mj/task/{task_id}/fetch", h)
        assert view["imageUrl"].startswith(mj.extra["sim"].url)
        r = client.http.get(f"/mj/image/{task_id}")
        assert r.status_code == 404 and "disabled" in json.loads(r.body)["description"]
    finally:
        del os.environ["MJ_FORWARD_IMAGES"]
    assert money.audit_user(mj.user.user_id).ok


def test_parent_rules_refresh_modal_and_free_inpaint(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a castle"}, h)[1]["result"]

    # Not SUCCESS upstream yet: refused after a refresh, nothing charged.
    before = quota(mj.user.user_id)
    clock.advance(STEP_S)
    status, reply = post(client, "/mj/submit/change", {"taskId": task_id, "action": "UPSCALE", "index": 1}, h)
    assert status == 400 and reply["code"] == 4 and reply["type"] == "upstream_error"
    assert "task_status_not_success" in reply["description"] and "IN_PROGRESS" in reply["description"]
    assert quota(mj.user.user_id) == before
    assert Task.get(task_id).progress == "25%"  # the refresh stored what it saw

    # SUCCESS upstream but stale here (no poll ran): the one-task refresh lets the action through.
    clock.advance(STEP_S * 3)
    assert Task.get(task_id).status == states.IN_PROGRESS
    status, reply = post(client, "/mj/submit/change", {"taskId": task_id, "action": "UPSCALE", "index": 1}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert Task.get(task_id).status == states.SUCCESS
    up_id = reply["result"]

    # Someone else's task, or an unknown one: not found.
    status, reply = post(client, "/mj/submit/change", {"taskId": task_id, "action": "UPSCALE", "index": 2},
                         mj.other.relay_headers())
    assert status == 404 and reply["code"] == 4 and "task_not_found" in reply["description"]
    assert get(client, f"/mj/task/{task_id}/fetch", mj.other.relay_headers())[0] == 404

    # Vary (Region) opens a modal: code 21, MODAL, free; the modal submission is charged (mj_modal).
    clock.advance(STEP_S * 4)
    up_view = get(client, f"/mj/task/{up_id}/fetch", h)[1]  # stale: SUBMITTED; refresh happens on action
    assert up_view["status"] in ("SUBMITTED", "IN_PROGRESS")
    poll(up_id)
    inpaint = next(b["customId"] for b in get(client, f"/mj/task/{up_id}/fetch", h)[1]["buttons"]
                   if b["customId"].startswith("MJ::Inpaint"))
    before = quota(mj.user.user_id)
    status, reply = post(client, "/mj/submit/action", {"taskId": up_id, "customId": inpaint}, h)
    assert status == 200 and reply["code"] == 21, reply
    modal_id = reply["result"]
    modal_task = Task.get(modal_id)
    assert modal_task.status == states.MODAL and modal_task.action == "INPAINT" and int(modal_task.quota) == 0
    assert quota(mj.user.user_id) == before
    assert get(client, f"/mj/task/{modal_id}/fetch", h)[1]["status"] == "MODAL"
    status, reply = post(client, "/mj/submit/modal", {"taskId": modal_id, "prompt": "a dragon on the tower"}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert quota(mj.user.user_id) == before - 50_000
    done = advance_and_poll(reply["result"], 4)
    assert done.status == states.SUCCESS and done.action == "MODAL"
    # A modal needs a MODAL task; an action needs a known button.
    status, reply = post(client, "/mj/submit/modal", {"taskId": task_id, "prompt": "x"}, h)
    assert status == 400 and "task_status_not_modal" in reply["description"]
    status, reply = post(client, "/mj/submit/action", {"taskId": task_id, "customId": "MJ::JOB::upsample::1::zz"}, h)
    assert status == 400 and "not one of the buttons" in reply["description"]
    assert money.audit_user(mj.user.user_id).ok


def test_failures_are_refunded_and_vanished_tasks_stop_being_polled(client: Any, mj: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    h = mj.user.relay_headers()
    uid = mj.user.user_id
    start = quota(uid)

    # Upstream FAILURE while polling: failed with its reason, refund owed, then paid by the refund worker.
    failing = post(client, "/mj/submit/imagine", {"prompt": "a sim:fail cat"}, h)[1]["result"]
    done = advance_and_poll(failing, 4)
    assert done.status == states.FAILURE and "simulated failure" in done.fail_reason
    assert done.billing == states.BILLING_REFUND_PENDING
    assert money.refund_task(failing, 1)
    view = get(client, f"/mj/task/{failing}/fetch", h)[1]
    assert view["status"] == "FAILURE" and "simulated failure" in view["failReason"]

    # Banned prompt (code 24): the upstream's answer with HTTP 200 (as new-api), nothing charged, no task left.
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:banned"}, h)
    assert status == 200 and reply["code"] == 24 and reply["description"] == "可能包含敏感词"
    # Queued (code 22): accepted, answered as 1 (new-api's rewrite).
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:queued please"}, h)
    assert status == 200 and reply["code"] == 1
    queued = reply["result"]
    # Upstream down (HTTP 503 on the only channel): its status and JSON body, relayed as new-api does; uncharged.
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:busy"}, h)
    assert (status, reply) == (503, {"error": "simulated overload"})

    # A task the upstream stops returning fails after POLL_MAX_MISSES polls (refund owed), not forever.
    monkeypatch.setenv("POLL_MAX_MISSES", "2")
    vanished = post(client, "/mj/submit/imagine", {"prompt": "sim:vanish"}, h)[1]["result"]
    assert poll(vanished) == engine.UPDATED
    assert poll(vanished) == engine.MOVED
    gone = Task.get(vanished)
    assert gone.status == states.FAILURE and "no longer knows" in gone.fail_reason
    assert money.refund_task(vanished, 1)

    assert quota(uid) == start - 50_000  # only the queued task is still charged
    assert Task.get(queued).status == states.SUBMITTED
    kinds = sorted(e.kind for e in LedgerEntry.query(uid) if e.kind != "credit")
    assert kinds.count("refund") == 2 and kinds.count("charge") == 3  # the two refused submits: no entry at all
    assert money.audit_user(uid).ok


def test_bad_input_is_a_clear_4xx_and_writes_nothing(client: Any, mj: Any) -> None:
    from tests.support import snapshot_tables

    h = mj.user.relay_headers()
    before = snapshot_tables()
    cases: list[tuple[str, Any, str]] = [
        ("/mj/submit/imagine", {}, "prompt"),
        ("/mj/submit/imagine", {"prompt": 5}, "prompt"),
        ("/mj/submit/imagine", {"prompt": "x", "base64Array": ["not-an-image"]}, "base64Array"),
        ("/mj/submit/imagine", {"prompt": "x", "botType": "OTHER"}, "botType"),
        ("/mj/submit/imagine", "[1, 2]", "JSON object"),
        ("/mj/submit/imagine", "{bad json", "JSON"),
        ("/mj/submit/blend", {"base64Array": ["data:image/png;base64,AAAA"]}, "base64Array"),
        ("/mj/submit/blend", {"base64Array": ["data:image/png;base64,AA"] * 2, "dimensions": "ROUND"}, "dimensions"),
        ("/mj/submit/describe", {}, "base64"),
        ("/mj/submit/shorten", {"prompt": "  "}, "prompt"),
        ("/mj/submit/action", {"taskId": "1"}, "customId"),
        ("/mj/submit/action", {"taskId": "1", "customId": "hello"}, "unknown_action"),
        ("/mj/submit/action", {"taskId": "1", "customId": "MJ::JOB::upsample::9::h"}, "index"),
        ("/mj/submit/change", {"taskId": "1", "action": "ZOOM", "index": 1}, "action"),
        ("/mj/submit/change", {"taskId": "1", "action": "UPSCALE", "index": 7}, "index"),
        ("/mj/submit/change", {"action": "UPSCALE", "index": 1}, "taskId"),
        ("/mj/submit/modal", {"taskId": "1", "maskBase64": "zzz"}, "maskBase64"),
        ("/mj/submit/change", {"taskId": "1", "action": "UPSCALE", "index": 1}, "task_not_found"),
        ("/mj/task/list-by-condition", {"ids": "1"}, "ids"),
    ]
    for path, body, needle in cases:
        status, reply = post(client, path, body, h)
        assert status in (400, 404), (path, body, status, reply)
        assert reply["code"] == 4 and reply["type"] == "upstream_error" and needle in reply["description"], reply
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "x"}, {"Content-Type": "application/json"})
    assert status == 401 and reply["error"]["message"] == "Invalid token"  # the gateway's shape, as new-api
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "x"}, mj.user.dashboard_headers())
    assert status == 401
    assert get(client, "/api/mj/self?start_timestamp=abc", mj.user.dashboard_headers())[0] == 400
    assert snapshot_tables() == before

    # mj-api-secret carries the key as well (midjourney-proxy clients send it that way).
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "via header"},
                         {"mj-api-secret": mj.user.api_key, "Content-Type": "application/json"})
    assert status == 200 and reply["code"] == 1

    # Idempotency-Key: a repeat gets the first reply (one task, one charge); reused with another body: 409.
    keyed = {**h, "Idempotency-Key": "order-17"}
    before_quota = quota(mj.user.user_id)
    first = client.http.post("/mj/submit/imagine", headers=keyed, body=json.dumps({"prompt": "once"}))
    again = client.http.post("/mj/submit/imagine", headers=keyed, body=json.dumps({"prompt": "once"}))
    assert first.status_code == again.status_code == 200
    assert json.loads(first.body)["result"] == json.loads(again.body)["result"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert quota(mj.user.user_id) == before_quota - 50_000
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "twice"}, keyed)
    assert status == 409 and reply["code"] == 4 and "Idempotency-Key" in reply["description"]

    # The reference's request examples answer the documented envelope (ms timestamps: nothing that old).
    status, page = get(client, "/api/mj/self?p=1&page_size=20&mj_id=task123&start_timestamp=1640908800"
                               "&end_timestamp=1640995200", mj.user.dashboard_headers())
    assert status == 200 and page == {"success": True, "message": "",
                                      "data": {"items": [], "total": 0, "page": 1, "page_size": 20}}
    status, page = get(client, "/api/mj/?p=1&page_size=20&channel_id=1&mj_id=task123&start_timestamp=1640908800"
                               "&end_timestamp=1640995200", mj.admin.dashboard_headers())
    assert status == 200 and page["success"] is True and set(page["data"]) == {"items", "total", "page", "page_size"}
    status, page = get(client, "/api/mj/self", mj.user.dashboard_headers())
    assert page["data"]["total"] == 2 and page["data"]["page_size"] == 20


def test_image_route_refuses_unsafe_upstream_urls_and_says_why(client: Any, mj: Any) -> None:
    sim = mj.extra["sim"]
    h = mj.user.relay_headers()
    cases = {
        "http://169.254.169.254/latest/meta-data/iam/": "link-local",
        f"{sim.url}/redirect?to=http%3A%2F%2F10.0.0.1%2Fx.png": "private",
        f"{sim.url}/page.html": "text/html",
    }
    for url, words in cases.items():
        task_id = post(client, "/mj/submit/imagine", {"prompt": "a lighthouse"}, h)[1]["result"]
        sim.set_image_url(Task.get(task_id).upstream_id, url)
        assert advance_and_poll(task_id, 4).status == states.SUCCESS
        r = client.http.get(f"/mj/image/{task_id}", headers={"Accept": "*/*"})
        body = json.loads(r.body)
        assert r.status_code in (403, 502) and body["type"] == "upstream_error" and words in body["description"], body
    r = client.http.get("/mj/image/424242", headers={"Accept": "*/*"})
    assert r.status_code == 404 and "task_not_found" in json.loads(r.body)["description"]


def test_blend_describe_shorten_reach_success_priced_per_action(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    img = "data:image/png;base64,iVBORw0KGgo="
    before = quota(mj.user.user_id)
    submitted = {
        "blend": post(client, "/mj/submit/blend", {"base64Array": [img, img], "dimensions": "LANDSCAPE"}, h),
        "describe": post(client, "/mj/submit/describe", {"base64": img}, h),
        "shorten": post(client, "/mj/submit/shorten", {"prompt": "a very very long prompt about foxes"}, h),
    }
    for kind, (status, reply) in submitted.items():
        assert status == 200 and reply["code"] == 1, (kind, reply)
    assert quota(mj.user.user_id) == before - 50_000 - 25_000 - 50_000  # blend 0.1, describe 0.05, shorten 0.1
    clock.advance(STEP_S * 4)
    views = {}
    for kind, (_, reply) in submitted.items():
        poll(reply["result"])
        views[kind] = get(client, f"/mj/task/{reply['result']}/fetch", h)[1]
        assert views[kind]["status"] == "SUCCESS" and views[kind]["action"] == kind.upper(), views[kind]
    assert views["blend"]["imageUrl"].endswith(f"/mj/image/{views['blend']['id']}")
    assert views["describe"]["imageUrl"] == "" and "description" in views["describe"]["promptEn"]


def test_request_paths_read_by_key_never_scan(client: Any, mj: Any, dynamodb_calls: list) -> None:
    h = mj.user.relay_headers()
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a quiet fox"}, h)[1]["result"]
    assert dynamodb_calls and not [c for c in dynamodb_calls if c[0] in ("Scan", "Query") and "tasks" in c[1]]
    dynamodb_calls.clear()
    get(client, f"/mj/task/{task_id}/fetch", h)
    assert [op for op, _ in dynamodb_calls] == ["GetItem", "GetItem"]  # the key, the task
    dynamodb_calls.clear()
    post(client, "/mj/task/list-by-condition", {"ids": [task_id, "1", "2"]}, h)
    assert [op for op, _ in dynamodb_calls] == ["GetItem", "BatchGetItem"]
    dynamodb_calls.clear()
    get(client, "/api/mj/self", mj.user.dashboard_headers())
    get(client, "/api/mj/", mj.admin.dashboard_headers())
    assert "Scan" not in {op for op, _ in dynamodb_calls}
