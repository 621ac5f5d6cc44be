"""Conformance: the Dooy chatgpt-web-midjourney-proxy client's real request sequences, over HTTP, against the
local stack (dooy-mj-client.md; issue 14). Every request carries what that client sends (direct browser
mode: `mj-api-secret: sk-...`, `Content-Type: application/json`, an Origin, after a CORS preflight; no
Authorization), every reply is read the way the client reads it, and every field it reads is checked:

- submit: `code` (1 and 22 mean accepted, 21 means "call /submit/modal with result", anything else with
  HTTP 200 is a shown failure), `result`, `description`, `properties.finalPrompt` (confirm path);
- fetch (polled until SUCCESS / FAILURE): `status`, `progress`, `failReason`, `imageUrl` (loaded cross-origin),
  no `imageUrls`, `videoUrls` null, `buttons[].customId/emoji`, `action`, `promptEn`, `prompt`, `startTime`,
  `properties.finalPrompt` and `finalZhPrompt` ("" when missing, never absent);
- seed `result` > 0; upload `result[0]`; gallery list-by-condition with numeric ids (`id`, `imageUrl`,
  `prompt`, `action`, `startTime`); a mode prefix in MJ_SERVER; bodies of megabytes.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any

import pytest

from infra.simulators.midjourney import PNG
from tests.e2e.test_mj_local_stack import fresh_account, user_quota
from tests.support import Account

pytestmark = pytest.mark.e2e

ORIGIN = "https://draw.example"
DEADLINE_S = 90.0
POLL_S = 0.5  # the client polls every 5 s; the simulator is faster, so is this


def data_url(size: int = 2000) -> str:
    return "data:image/png;base64," + base64.b64encode(PNG + b"\0" * size).decode()


class Dooy:
    """The client: MJ_SERVER (optionally with a mode prefix) and MJ_API_SECRET, as its settings hold them."""

    def __init__(self, stack: Any, account: Account, server_prefix: str = "") -> None:
        self.stack, self.account, self.prefix = stack, account, server_prefix

    def headers(self) -> dict[str, str]:
        return {"mj-api-secret": self.account.api_key, "Content-Type": "application/json", "Origin": ORIGIN}

    def preflight(self, path: str, method: str) -> dict[str, str]:
        status, _, headers = self.stack.request("OPTIONS", self.prefix + path, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,mj-api-secret"})
        lower = {k.lower(): v for k, v in headers.items()}
        assert 200 <= status < 300, (path, status)
        assert lower["access-control-allow-origin"] == "*", (path, lower)
        allowed = lower["access-control-allow-headers"].lower()
        assert "mj-api-secret" in allowed and "content-type" in allowed, (path, allowed)
        return lower

    def call(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """mjFetch: GET without a body, POST with one; a browser preflights it first (custom header)."""
        method = "GET" if body is None else "POST"
        self.preflight(path, method)
        status, reply, headers = self.stack.request(method, self.prefix + path, headers=self.headers(), body=body)
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower.get("access-control-allow-origin") == "*", (path, lower)  # else the browser hides the reply
        return status, reply

    def submit(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The client's submit handling (dooy-mj-client.md 3), returning the reply it ends up using."""
        status, reply = self.call(path, body)
        assert status == 200, (path, status, reply)  # a 4xx/5xx is "response_fail" to this client
        if reply["code"] == 21:  # "modal confirmation pending": POST /submit/modal {taskId: result}
            status, reply = self.call("/mj/submit/modal", {"taskId": reply["result"]})
            assert status == 200, reply
        return reply

    def accepted(self, path: str, body: dict[str, Any]) -> str:
        reply = self.submit(path, body)
        assert reply["code"] in (1, 22), (path, reply)
        assert isinstance(reply["result"], str) and reply["result"].isdigit() and int(reply["result"]) < 2**53
        assert isinstance(reply["properties"], dict) and isinstance(reply["description"], str)
        return reply["result"]

    def poll(self, mj_id: str) -> dict[str, Any]:
        """flechTask: GET fetch until SUCCESS / FAILURE, checking every field the renderer reads."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            status, view = self.call(f"/mj/task/{mj_id}/fetch")
            assert status == 200, view
            check_view(view)
            if view["status"] in ("SUCCESS", "FAILURE"):
                return view
            if view["imageUrl"]:  # a progress preview: a new URL each poll, as new-api
                assert "rand=" in view["imageUrl"], view["imageUrl"]
            time.sleep(POLL_S)
        pytest.fail(f"{mj_id} did not finish in {DEADLINE_S}s")


def check_view(view: dict[str, Any]) -> None:
    for name in ("status", "progress", "failReason", "imageUrl", "action", "promptEn", "prompt"):
        assert isinstance(view[name], str), (name, view)
    assert isinstance(view["startTime"], int)
    assert "imageUrls" not in view  # present means "a 2x2 grid instead of imageUrl"
    assert view["videoUrls"] is None  # [] is truthy in JS: the image would be hidden
    assert isinstance(view["buttons"], list)
    for button in view["buttons"]:
        assert isinstance(button["customId"], str) and isinstance(button["emoji"], str)
    assert isinstance(view["properties"]["finalPrompt"], str) and view["properties"]["finalZhPrompt"] == ""


def load_image(stack: Any, url: str) -> None:
    """The client draws imageUrl into a canvas with crossOrigin=anonymous: it needs the CORS header."""
    assert url.startswith(stack.api_url), url
    status, body, headers = stack.request("GET", url[len(stack.api_url):], headers={"Origin": ORIGIN,
                                                                                      "Accept": "*/*"})
    lower = {k.lower(): v for k, v in headers.items()}
    # "*" from our route; a kept image is served by the bucket after the redirect, whose CORS rule allows any
    # origin (template: CorsConfiguration; moto echoes the origin where S3 answers "*": both let a canvas read it)
    assert status == 200 and body == PNG and lower["access-control-allow-origin"] in ("*", ORIGIN)


def button(view: dict[str, Any], needle: str) -> str:
    return next(b["customId"] for b in view["buttons"] if needle in b["customId"])


@pytest.fixture
def dooy(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Dooy:
    return Dooy(local_stack, fresh_account(local_stack, monkeypatch))


def test_draw_poll_buttons_modals_seed_and_gallery(dooy: Dooy) -> None:
    mj_id = dooy.accepted("/mj/submit/imagine", {"base64Array": [], "notifyHook": "", "prompt": "a red fox",
                                                  "state": "", "botType": "MID_JOURNEY"})
    view = dooy.poll(mj_id)
    assert view["status"] == "SUCCESS" and view["progress"] == "100%"
    load_image(dooy.stack, view["imageUrl"])

    # U1 (classic change), V2 (customId), reroll
    up = dooy.accepted("/mj/submit/change", {"action": "UPSCALE", "index": 1, "taskId": mj_id})
    dooy.accepted("/mj/submit/action", {"customId": button(view, "::variation::2"), "taskId": mj_id})
    dooy.accepted("/mj/submit/action", {"customId": button(view, "reroll::0"), "taskId": mj_id})
    up_view = dooy.poll(up)
    assert up_view["status"] == "SUCCESS" and up_view["action"] == "UPSCALE"

    # Vary (Region): action -> 21 -> modal {maskBase64, prompt, taskId: result}
    status, reply = dooy.call("/mj/submit/action", {"customId": button(up_view, "::Inpaint::"), "taskId": up})
    assert status == 200 and reply["code"] == 21 and reply["result"], reply
    modal = dooy.accepted("/mj/submit/modal", {"maskBase64": data_url(), "prompt": "a hat", "taskId": reply["result"]})
    # Custom zoom: the same two steps, the prompt edited from properties.finalPrompt
    status, reply = dooy.call("/mj/submit/action", {"customId": button(up_view, "CustomZoom::"), "taskId": up})
    assert status == 200 and reply["code"] == 21, reply
    prompt = (reply["properties"].get("finalPrompt") or "") + " --zoom 1.8"
    dooy.accepted("/mj/submit/modal", {"prompt": prompt, "taskId": reply["result"]})
    assert dooy.poll(modal)["status"] == "SUCCESS"

    # Seed: result > 0
    status, seed = dooy.call(f"/mj/task/{mj_id}/image-seed")
    assert status == 200 and int(seed["result"]) > 0, seed

    # Gallery: all-digit ids coerced with unary plus: JSON numbers
    ids = [int(i) for i in (mj_id, up)]
    status, items = dooy.call("/mj/task/list-by-condition", {"ids": ids})
    assert status == 200 and [i["id"] for i in items] == [mj_id, up]
    for item in items:
        assert {"id", "imageUrl", "prompt", "action", "startTime"} <= set(item)
        assert int(item["id"]) == ids[items.index(item)]  # no precision lost in the coercion


def test_other_actions_with_data_urls(dooy: Dooy) -> None:
    blend = dooy.accepted("/mj/submit/blend", {"base64Array": [data_url(), data_url()], "botType": "MID_JOURNEY",
                                                "dimensions": "SQUARE"})
    describe = dooy.accepted("/mj/submit/describe", {"base64": data_url(), "botType": "MID_JOURNEY"})
    shorten = dooy.accepted("/mj/submit/shorten", {"prompt": "a long prompt about foxes", "botType": "MID_JOURNEY"})
    dooy.accepted("/mj/insight-face/swap", {"sourceBase64": data_url(), "targetBase64": data_url()})
    dooy.accepted("/mj/submit/edits", {"prompt": "make it red", "maskBase64": data_url(), "image": data_url()})
    dooy.accepted("/mj/submit/video", {"motion": "low", "prompt": "it runs", "image": data_url(),
                                        "base64": data_url(), "mode": "FAST"})
    status, reply = dooy.call("/mj/submit/upload-discord-images", {"base64Array": [data_url()]})
    assert status == 200 and reply["code"] == 1 and reply["result"][0].startswith("http"), reply
    assert dooy.poll(blend)["status"] == "SUCCESS"
    assert dooy.poll(describe)["properties"]["finalPrompt"]  # describe text shown from here
    short = dooy.poll(shorten)
    assert short["action"] == "SHORTEN" and short["properties"]["finalZhPrompt"] == ""  # falls back to finalPrompt


def test_queued_refused_and_queue_full_replies(dooy: Dooy, local_stack: Any) -> None:
    before = user_quota(local_stack, dooy.account)
    status, reply = dooy.call("/mj/submit/imagine", {"prompt": "sim:queued a fox", "base64Array": [],
                                                      "botType": "MID_JOURNEY", "notifyHook": "", "state": ""})
    assert status == 200 and reply["code"] == 1 and "排队" in reply["description"], reply  # 22 -> 1
    charged = before - user_quota(local_stack, dooy.account)
    assert charged > 0
    # 24: HTTP 200, the upstream's body; the client shows it; nothing charged.
    status, reply = dooy.call("/mj/submit/imagine", {"prompt": "sim:banned", "base64Array": []})
    assert status == 200 and reply["code"] == 24 and reply["description"], reply
    # 23 (every channel's queue full): the same.
    sim = next(c["base_url"] for c in local_stack.channels if c.get("type") == "midjourney")
    _sim_config(sim, queue_full_rate=1.0)
    try:
        status, reply = dooy.call("/mj/submit/imagine", {"prompt": "a fox", "base64Array": []})
    finally:
        _sim_config(sim, queue_full_rate=0.0)
    assert status == 200 and reply["code"] == 23, reply
    assert before - user_quota(local_stack, dooy.account) == charged


def test_mode_prefix_in_mj_server_and_megabyte_bodies(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Dooy(local_stack, fresh_account(local_stack, monkeypatch), server_prefix="/mj-fast")
    big = data_url(3_000_000)  # a ~4 MB data URL: the client sends files as they are
    mj_id = fast.accepted("/mj/submit/imagine", {"base64Array": [big], "notifyHook": "", "prompt": "a fox",
                                                  "state": "", "botType": "NIJI_JOURNEY"})
    assert fast.poll(mj_id)["status"] == "SUCCESS"
    status, reply, _ = local_stack.request("POST", "/mj/submit/no-such-route", headers=fast.headers(), body={})
    assert status == 404 and reply["code"] == 4 and reply["type"] == "upstream_error", reply


def _sim_config(base_url: str, **knobs: Any) -> None:
    req = urllib.request.Request(base_url.rstrip("/") + "/sim/config", data=json.dumps(knobs).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200
