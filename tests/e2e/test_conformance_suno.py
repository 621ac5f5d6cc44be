"""Suno relay conformance on the local stack: a new-api Suno client's request sequence (newapi-relay-wire.md
§1-2), replayed with its headers and bodies, and every field it reads: submit (music, lyrics, a
continuation), fetch one, fetch many (string and numeric ids, the ignored `action`), the key forms, and the
refusal and error shapes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from infra.simulators.suno import SUBMIT_MESSAGE
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

DEADLINE_S = 90.0
# TaskDto (newapi-relay-wire.md §2.5) with its types; result_url and username are omitted when empty
TASK_DTO = {"id": int, "created_at": int, "updated_at": int, "task_id": str, "platform": str, "user_id": int,
            "group": str, "channel_id": int, "quota": int, "action": str, "status": str, "fail_reason": str,
            "submit_time": int, "start_time": int, "finish_time": int, "progress": str, "properties": dict}
STATUSES = {"NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN"}


def client_headers(key: str) -> dict[str, str]:
    """What a new-api Suno client sends: the key as a bearer token and a JSON body."""
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"}


def check_dto(item: dict[str, Any], stack: RunningStack) -> None:
    for key, kind in TASK_DTO.items():
        assert isinstance(item.get(key), kind), (key, item)
    assert set(item) - set(TASK_DTO) <= {"data", "result_url"} and "data" in item, set(item)
    assert item["task_id"].startswith("task_") and len(item["task_id"]) == 37
    assert item["platform"] == "suno" and item["user_id"] == stack.demo.user_id and item["channel_id"] > 0
    assert item["action"] in ("MUSIC", "LYRICS") and item["status"] in STATUSES
    assert item["progress"] in ("0%", "100%") or item["progress"].endswith("%")
    assert item["submit_time"] < 10**11 and item["properties"]["input"] is not None  # seconds
    if item["fail_reason"]:
        assert item["result_url"] == item["fail_reason"]


def wait_terminal(stack: RunningStack, task_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        status, body = stack.get(f"/suno/fetch/{task_id}", headers=headers)
        assert status == 200 and body["code"] == "success", body
        if body["data"]["status"] in ("SUCCESS", "FAILURE"):
            return body["data"]
        time.sleep(1)  # the stack's poller works on its own schedule; bounded by the deadline
    pytest.fail(f"{task_id} did not finish in {DEADLINE_S}s")


def test_a_new_api_suno_client_session(local_stack: RunningStack) -> None:
    stack = local_stack
    headers = client_headers(stack.demo.api_key)
    song = {"prompt": "[Verse]\nsalt on the wind", "mv": "chirp-v3-5", "title": "Harbour", "tags": "folk",
            "make_instrumental": False}
    status, reply, reply_headers = stack.request("POST", "/suno/submit/music", headers=headers, body=song)
    assert status == 200 and reply == {"code": "success", "message": SUBMIT_MESSAGE, "data": reply["data"]}, reply
    assert reply_headers.get("X-New-Api-Other-Ratios") == "{}"
    music = reply["data"]
    status, reply = stack.post("/suno/submit/lyrics", {"prompt": "a song about the harbour"}, headers=headers)
    assert status == 200 and reply["code"] == "success", reply
    lyrics = reply["data"]
    status, reply = stack.post("/suno/submit/music", {"gpt_description_prompt": "an upbeat sea shanty"},
                               headers=headers)
    assert status == 200, reply

    status, body = stack.get(f"/suno/fetch/{music}", headers=headers)
    assert status == 200 and set(body) == {"code", "message", "data"} and body["message"] == ""
    check_dto(body["data"], stack)
    status, body = stack.post("/suno/fetch", {"ids": [music, lyrics, "task_unknown", 12345], "action": "MUSIC"},
                              headers=headers)
    assert status == 200 and [i["task_id"] for i in body["data"]] == [music, lyrics]  # unknown ids dropped
    for item in body["data"]:
        check_dto(item, stack)

    done = wait_terminal(stack, music, headers)
    check_dto(done, stack)
    assert done["status"] == "SUCCESS" and done["progress"] == "100%" and done["finish_time"] >= done["submit_time"]
    clips = done["data"]
    assert isinstance(clips, list) and clips
    for clip in clips:
        assert clip["audio_url"].startswith("http") and "image_url" in clip and "video_url" in clip

    # Continuation: the task_id is sent upstream verbatim (new-api does not translate it).
    status, reply = stack.post("/suno/submit/music", {"prompt": "verse two", "task_id": music,
                                                      "continue_clip_id": str(clips[0].get("id") or "clip"),
                                                      "continue_at": 42.5}, headers=headers)
    assert status == 200 and reply["code"] == "success", reply


def test_key_forms_and_error_shapes(local_stack: RunningStack) -> None:
    stack = local_stack
    key = stack.demo.api_key
    for headers in ({"Authorization": key}, {"Authorization": f"Bearer {key.removeprefix('sk-')}"},
                    {"Authorization": "midjourney-proxy", "mj-api-secret": key}):
        status, body = stack.get("/suno/fetch/task_nope", headers=headers)
        assert (status, body) == (400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})
    status, body = stack.post("/suno/submit/music", {"prompt": "x"}, headers=client_headers("sk-" + "0" * 48))
    assert status == 401 and body["error"]["type"] == "new_api_error" and body["error"]["message"] == "Invalid token"
    status, body = stack.post("/suno/submit/music", {"prompt": "x"},
                              headers=client_headers(f"{key}-{stack.channels[0]['id']}"))
    assert status == 403 and body["error"]["message"] == "普通用户不支持指定渠道"  # only admins pin a channel
    status, body = stack.post("/suno/submit/lyrics", {"title": "no prompt"}, headers=client_headers(key))
    assert status == 400 and body["code"] == "invalid_request" and body["data"] is None
    status, body = stack.post("/suno/submit/music", {"prompt": "sim:refuse this"}, headers=client_headers(key))
    assert (status, body["code"], body["data"]) == (500, "prompt_refused", None)  # the upstream's code
    assert "the prompt breaks" not in body["message"] and "refused" in body["message"]  # our words; never charged
    status, body = stack.post("/suno/fetch", {"ids": "not-a-list"}, headers=client_headers(key))
    assert status == 400 and body["code"] == "invalid_request"
