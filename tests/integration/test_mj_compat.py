"""Midjourney relay as new-api answers it on the wire (issue 14, newapi-relay-wire.md 3, dooy-mj-client.md).

Each test fails on bbd2da7: codes 21/22 passed through, `properties` always {}, refusals as 400/502,
19-digit ids, no `rand` on progress images, `videoUrls: []`, 100-id cap, 256 KiB bodies with the images
stored in the task item, missing routes, no mode prefixes, API Gateway's 403 for unknown /mj paths, no CORS.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.store import money
from taskcenter.store.models import LedgerEntry, Task

from tests.integration.test_mj_relay import BASE, advance_and_poll, get, mj, post, quota

__all__ = ["mj"]  # the fixture, shared with test_mj_relay


def image(size: int) -> str:
    """A data URL of about `size` bytes."""
    return "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\0" * (size * 3 // 4)).decode()


def test_codes_21_and_22_become_1_except_for_modal_actions(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:queued fox"}, h)
    assert status == 200 and reply["code"] == 1 and "排队中" in reply["description"], reply
    assert reply["properties"] == {"numberOfQueues": 1, "discordInstanceId": "sim-instance"}
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:exists fox"}, h)
    assert status == 200 and reply["code"] == 1, reply
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a castle"}, h)[1]["result"]
    advance_and_poll(task_id, 4)
    up = post(client, "/mj/submit/change", {"taskId": task_id, "action": "UPSCALE", "index": 1}, h)[1]["result"]
    advance_and_poll(up, 4)
    buttons = get(client, f"/mj/task/{up}/fetch", h)[1]["buttons"]
    for prefix in ("MJ::Inpaint", "MJ::CustomZoom"):
        custom = next(b["customId"] for b in buttons if b["customId"].startswith(prefix))
        status, reply = post(client, "/mj/submit/action", {"taskId": up, "customId": custom}, h)
        # 21 stays: the Dooy client then calls /submit/modal with result and properties.finalPrompt
        assert status == 200 and reply["code"] == 21, reply
        assert reply["properties"]["finalPrompt"] == "a castle"
        modal = post(client, "/mj/submit/modal", {"taskId": reply["result"],
                                                  "prompt": reply["properties"]["finalPrompt"]}, h)
        assert modal[0] == 200 and modal[1]["code"] == 1


def test_refusals_are_http_200_with_the_upstream_body_and_cost_nothing(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    uid = mj.user.user_id
    before = quota(uid)
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "sim:banned"}, h)
    assert status == 200, reply
    assert reply["code"] == 24 and reply["description"] == "可能包含敏感词"
    assert reply["properties"] == {"promptEn": "sim:banned", "bannedWord": "sim:banned"}
    mj.extra["sim"].config.queue_full_rate = 1.0
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, h)
    assert status == 200 and reply["code"] == 23 and reply["result"] is None, reply
    mj.extra["sim"].config.queue_full_rate = 0.0
    assert quota(uid) == before  # refused: never charged (the held task is withdrawn with its charge)
    assert [t for t in Task.scan() if t.user_id == uid] == []
    assert money.audit_user(uid).ok
    assert [e.kind for e in LedgerEntry.query(uid) if e.kind != "credit"] == []  # not a charge/refund pair


def test_task_ids_are_16_digits_below_2_53(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    ids = [post(client, "/mj/submit/imagine", {"prompt": f"fox {i}"}, h)[1]["result"] for i in range(5)]
    assert len(set(ids)) == 5  # the same frozen millisecond
    for task_id in ids:
        assert task_id.isdigit() and len(task_id) == 16 and int(task_id) < 2**53
        assert str(clock.now_ms()) == task_id[:13]


def test_video_urls_are_null_when_there_are_none(client: Any, mj: Any) -> None:
    # The Dooy client shows videos instead of the image whenever videoUrls is truthy: [] is truthy in JS.
    h = mj.user.relay_headers()
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, h)[1]["result"]
    assert get(client, f"/mj/task/{task_id}/fetch", h)[1]["videoUrls"] is None
    advance_and_poll(task_id, 4)
    assert post(client, "/mj/task/list-by-condition", {"ids": [task_id]}, h)[1][0]["videoUrls"] is None


def test_progress_images_change_url_until_success(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, h)[1]["result"]
    advance_and_poll(task_id, 2)  # IN_PROGRESS 50%, with a preview image
    view = get(client, f"/mj/task/{task_id}/fetch", h)[1]
    assert view["status"] == "IN_PROGRESS"
    assert view["imageUrl"].startswith(f"{BASE}/mj/image/{task_id}?rand=")
    again = get(client, f"/mj/task/{task_id}/fetch", h)[1]
    assert again["imageUrl"] != view["imageUrl"]
    r = client.http.get(f"/mj/image/{task_id}", headers={"Accept": "*/*"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    advance_and_poll(task_id, 2)
    done = get(client, f"/mj/task/{task_id}/fetch", h)[1]
    assert done["status"] == "SUCCESS" and done["imageUrl"] == f"{BASE}/mj/image/{task_id}"
    final = client.http.get(f"/mj/image/{task_id}", headers={"Accept": "*/*"})
    assert final.headers["Cache-Control"] == "public, max-age=86400"


def test_list_by_condition_takes_numbers_and_more_than_100_ids(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    mine = [post(client, "/mj/submit/imagine", {"prompt": f"fox {i}"}, h)[1]["result"] for i in range(3)]
    ids: list[Any] = [int(i) for i in mine] + [str(10**15 + n) for n in range(300)]  # as the Dooy gallery sends
    status, items = post(client, "/mj/task/list-by-condition", {"ids": ids}, h)
    assert status == 200 and [i["id"] for i in items] == mine
    for empty in ({}, {"ids": None}, {"ids": []}):  # new-api answers [] (newapi-relay-wire.md 3.6)
        assert post(client, "/mj/task/list-by-condition", empty, h) == (200, [])
    from taskcenter.services.midjourney import views

    too_many = [str(n) for n in range(views.most_ids() + 1)]
    status, reply = post(client, "/mj/task/list-by-condition", {"ids": too_many}, h)
    assert status == 413 and reply["code"] == 4 and "smaller batches" in reply["description"]


def test_megabyte_images_are_accepted_relayed_and_not_stored(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    sim = mj.extra["sim"]
    big = [image(1_000_000), image(1_000_000)]  # 2 MB of base64: 8x the old 256 KiB cap, >5x DynamoDB's item
    status, reply = post(client, "/mj/submit/blend", {"base64Array": big, "dimensions": "SQUARE"}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert sim.submitted[-1][0] == "blend" and sim.submitted[-1][1]["base64Array"] == big
    stored = Task.get(reply["result"]).properties["_submit"]["payload"]
    assert "base64Array" not in stored["body"] and stored["images_not_kept"] == ["base64Array"]
    assert big[0][-200:] not in json.dumps(Task.get(reply["result"]).attribute_values, default=str)

    # Beyond what one Lambda event carries (6 MB, the body base64-encoded): a clear 413 in the MJ envelope.
    from taskcenter.domain import lambda_limits

    limit = lambda_limits.LAMBDA_SYNC_PAYLOAD_BYTES * 3 // 4
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "x", "base64Array": [image(limit)]}, h)
    assert status == 413 and reply["code"] == 4 and "bytes" in reply["description"]
    status, reply = post(client, "/mj/submit/imagine", {"prompt": "x", "base64Array": [image(limit - 200_000)]}, h)
    assert status == 200 and reply["code"] == 1, reply


def test_new_routes_reach_the_upstream(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    sim = mj.extra["sim"]
    task_id = post(client, "/mj/submit/imagine", {"prompt": "a fox"}, h)[1]["result"]
    advance_and_poll(task_id, 4)
    status, reply = post(client, "/mj/submit/simple-change", {"content": f"{task_id} U2"}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert Task.get(reply["result"]).action == "UPSCALE" and sim.submitted[-1][0] == "change"
    assert sim.submitted[-1][1]["index"] == 2
    status, reply = post(client, "/mj/submit/edits", {"prompt": "red", "image": image(100),
                                                      "maskBase64": image(50)}, h)
    assert status == 200 and reply["code"] == 1 and Task.get(reply["result"]).action == "EDITS", reply
    status, reply = post(client, "/mj/submit/video", {"motion": "low", "prompt": "run", "image": image(100),
                                                      "base64": image(100), "mode": "FAST"}, h)
    assert status == 200 and reply["code"] == 1 and Task.get(reply["result"]).action == "VIDEO", reply
    status, reply = post(client, "/mj/submit/video", {"motion": "high", "prompt": "run", "taskId": task_id}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert sim.submitted[-1][1]["taskId"] == Task.get(task_id).upstream_id
    status, reply = post(client, "/mj/insight-face/swap", {"sourceBase64": image(100),
                                                           "targetBase64": image(100)}, h)
    assert status == 200 and reply["code"] == 1 and Task.get(reply["result"]).action == "SWAP_FACE", reply
    assert Task.get(reply["result"]).model_name == "swap_face"
    status, seed = get(client, f"/mj/task/{task_id}/image-seed", h)
    assert status == 200 and seed["code"] == 1 and int(seed["result"]) > 0, seed
    assert get(client, f"/mj/task/{task_id}/image-seed", mj.other.relay_headers())[0] == 404


@pytest.mark.parametrize("mode", ["mj-fast", "mj-relax", "mj-turbo"])
def test_mode_prefixes_are_routing_aliases(client: Any, mj: Any, mode: str) -> None:
    h = mj.user.relay_headers()
    status, reply = post(client, f"/{mode}/mj/submit/imagine", {"prompt": "a fox"}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert mj.extra["sim"].requests[-1] == ("POST", "/mj/submit/imagine")  # the upstream never sees the mode
    status, view = get(client, f"/{mode}/mj/task/{reply['result']}/fetch", h)
    assert status == 200 and view["id"] == reply["result"]
    status, items = post(client, f"/{mode}/mj/task/list-by-condition", {"ids": [reply["result"]]}, h)
    assert status == 200 and len(items) == 1


def test_unknown_mj_paths_answer_in_the_mj_envelope(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    for method, path in [("POST", "/mj/submit/upscale-everything"), ("GET", "/mj/task/1/nothing"),
                         ("GET", "/mj/nothing"), ("POST", "/mj-slow!/mj/submit/imagine")]:
        r = client.http.request(method, path, headers=h, body=b"{}")
        body = json.loads(r.body)
        assert r.status_code == 404 and body["code"] == 4 and body["type"] == "upstream_error", (path, r.body)


def test_cors_relay_any_origin_dashboard_as_configured(client: Any, mj: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ask = {"Origin": "https://draw.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,mj-api-secret"}
    for path in ("/mj/submit/imagine", "/mj-fast/mj/submit/imagine", "/mj/task/123/fetch", "/suno/fetch"):
        r = client.http.request("OPTIONS", path, headers=ask)
        assert r.status_code in (200, 204), path
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        allowed = r.headers["Access-Control-Allow-Headers"].lower()
        assert "mj-api-secret" in allowed and "content-type" in allowed and "authorization" in allowed
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
    browser = {"Origin": "https://draw.example", "mj-api-secret": mj.user.api_key, "Content-Type": "application/json"}
    r = client.http.post("/mj/submit/imagine", headers=browser, body=json.dumps({"prompt": "a fox"}))
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    r = client.http.post("/mj/submit/imagine", headers=browser, body=json.dumps({}))  # errors carry it too
    assert r.status_code == 400 and r.headers["Access-Control-Allow-Origin"] == "*"

    dash = {**mj.user.dashboard_headers(), "Origin": "https://dash.example"}
    r = client.http.get("/api/mj/self", headers=dash)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers  # none configured
    monkeypatch.setenv("DASHBOARD_CORS_ORIGINS", "https://dash.example, https://ops.example")
    r = client.http.get("/api/mj/self", headers=dash)
    assert r.headers["Access-Control-Allow-Origin"] == "https://dash.example" and r.headers["Vary"] == "Origin"
    r = client.http.request("OPTIONS", "/api/mj/self", headers={**ask, "Origin": "https://ops.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://ops.example"
    assert "new-api-user" in r.headers["Access-Control-Allow-Headers"].lower()
    r = client.http.get("/api/mj/self", headers={**dash, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    # Task API v1 is not for browsers: no CORS.
    assert "Access-Control-Allow-Origin" not in client.http.get("/api/v1/task", headers=ask).headers



def test_a_resubmission_without_the_request_images_fails_and_refunds(client: Any, mj: Any) -> None:
    """The rescue path (the request died after the charge): the images lived only in that request, so the
    background dispatch fails the task and refunds it instead of sending the upstream a blend of nothing."""
    from taskcenter.services.core import submission
    from taskcenter.services.core.auth import authenticate_relay

    h = mj.user.relay_headers()
    principal = authenticate_relay(h["Authorization"], None)
    spec = submission.TaskSpec(platform="midjourney", kind="mj", action="BLEND", model_name="mj_blend",
                               payload={"kind": "blend", "body": {"dimensions": "SQUARE"},
                                        "images_not_kept": ["base64Array"]}, properties={"prompt": ""})
    before = quota(mj.user.user_id)
    task = submission.create_tasks(principal, [spec])[0]
    assert quota(mj.user.user_id) == before - 50_000
    submission.dispatch_to_upstream(task, client_waiting=False)
    task = Task.get(task.task_id)
    assert task.status == states.FAILURE and "images were not kept" in task.fail_reason
    assert not any(kind == "blend" for kind, _ in mj.extra["sim"].submitted)  # nothing half-sent upstream
    assert money.refund_task(task.task_id, 1)
    assert quota(mj.user.user_id) == before and money.audit_user(mj.user.user_id).ok


def test_upload_discord_images_answers_the_urls_and_charges_nothing(client: Any, mj: Any) -> None:
    h = mj.user.relay_headers()
    before = quota(mj.user.user_id)
    status, reply = post(client, "/mj/submit/upload-discord-images", {"base64Array": [image(1000)]}, h)
    assert status == 200 and reply["code"] == 1, reply
    assert isinstance(reply["result"], list) and reply["result"][0].startswith("http")  # the client uses result[0]
    assert quota(mj.user.user_id) == before and not [t for t in Task.scan() if t.user_id == mj.user.user_id]
    status, reply = post(client, "/mj/submit/upload-discord-images", {"base64Array": []}, h)
    assert status == 400 and reply["code"] == 4
    assert post(client, "/mj/submit/upload-discord-images", {"base64Array": [image(10)]}, {})[0] == 401


def test_relayed_upstream_bodies_never_carry_the_channel_secret(client: Any, mj: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The upstream's properties and refusal bodies now reach the client: an upstream that echoes the
    channel's key (mj-api-secret) must not hand it to the user."""
    sim = mj.extra["sim"]
    h = mj.user.relay_headers()
    real = sim.submit

    def echoing(kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, reply = real(kind, body)
        reply = {**reply, "properties": {**(reply.get("properties") or {}), "echo": "key sim-secret here"}}
        return status, {**reply, "description": f"{reply.get('description')} (sim-secret)"}

    monkeypatch.setattr(sim, "submit", echoing)
    for prompt in ("a fox", "sim:banned", "sim:queued"):
        status, reply = post(client, "/mj/submit/imagine", {"prompt": prompt}, h)
        assert status == 200 and "sim-secret" not in json.dumps(reply, ensure_ascii=False), reply
        assert "[secret]" in reply["properties"]["echo"]
