"""A simulated midjourney-proxy upstream for tests and the local stack (standard library only).

It speaks the midjourney-proxy protocol (docs/midjourney.md): `POST /mj/submit/{imagine,action,blend,
describe,modal,shorten,change,edits,video}`, `POST /mj/insight-face/swap`, `GET /mj/task/{id}/fetch`,
`GET /mj/task/{id}/image-seed`, `POST /mj/task/list-by-condition`, with the `mj-api-secret` header.
`submitted` keeps the last submit bodies (kind, body) for tests. Tasks move with time: SUBMITTED,
then IN_PROGRESS with a progress that grows ("25%", "50%", "75%"), then SUCCESS with an image URL
served by the simulator itself and the buttons midjourney-proxy shows (U1..U4, reroll, V1..V4 on a
grid; vary/zoom/pan/inpaint on an upscale).

Failures are configurable, globally (rates, seeded) or per prompt, so tests are deterministic:

    prompt contains   effect
    sim:fail          the task ends in FAILURE ("simulated failure")
    sim:vanish        the upstream stops returning the task after submission
    sim:banned        submit answers code 24 (banned prompt)
    sim:queued        submit answers code 22 (queued), accepted
    sim:exists        submit answers code 21 (exists), accepted
    sim:busy          submit answers HTTP 503

`SimConfig` fields: `step_seconds` (time per progress step), `fail_rate`, `submit_error_rate` (HTTP 503),
`queue_full_rate` (code 23), `latency_seconds` (per request), `secret`, `seed`, `images_expired` (every
`/images/` URL answers 403 "Request has expired", as a lapsed signed URL: docs/results.md). `POST /sim/config`
changes them at run time (JSON body); `GET /health` answers ok. Extra routes for the image forwarding
tests: `GET /redirect?to=<url>` answers 302 to `to`, `GET /images/<name>.png` serves a small PNG,
`/big.png` 3 MB, `/page.html` HTML.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.simulators import EXPIRED_BODY, QuietJsonHandler
from infra.simulators.midjourney_parts import (  # noqa: F401 - PNG, tiny_png: imported from here by tests
    PNG,
    _hash,
    action_of_custom_id,
    grid_buttons,
    tiny_png,
    upscale_buttons,
)

ACCEPTED = 1
EXISTS = 21
QUEUED = 22
QUEUE_FULL = 23
BANNED = 24
BAD_REQUEST = 4




@dataclass
class SimConfig:
    step_seconds: float = 1.0  # time per progress step (4 steps to SUCCESS)
    fail_rate: float = 0.0  # share of tasks that end in FAILURE
    submit_error_rate: float = 0.0  # share of submissions answered HTTP 503
    queue_full_rate: float = 0.0  # share of submissions answered code 23
    latency_seconds: float = 0.0  # added before answering each protocol request
    secret: str = "sim-secret"  # required mj-api-secret ("" = no auth)
    seed: int = 7
    images_expired: bool = False  # /images/ answers 403, as an expired signed URL (the results kept tests)


@dataclass
class SimTask:
    id: str
    action: str
    prompt: str
    submit_ms: int
    fail: bool = False
    vanish: bool = False
    parent_id: str = ""
    index: int = 0
    modal: bool = False  # waiting for a /mj/submit/modal (INPAINT, CUSTOM_ZOOM)
    modal_since_ms: int = 0  # when the modal was submitted (the task then runs)
    image_url: str = ""  # override of the served image URL (SSRF tests)
    state: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class MidjourneySimulator:
    """The simulated upstream: an HTTP server in a daemon thread. `url` once started; `stop()` ends it."""

    name = "midjourney-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SimConfig | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        self.config = config or SimConfig()
        self._rng = random.Random(self.config.seed)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._lock = threading.Lock()
        self._counter = 0
        self.tasks: dict[str, SimTask] = {}
        self.requests: deque[tuple[str, str]] = deque(maxlen=1000)  # (method, path) received, for assertions
        self.submitted: deque[tuple[str, dict[str, Any]]] = deque(maxlen=100)  # (kind, body) of submits
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self.url: str | None = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> MidjourneySimulator:
        # A short poll interval: stop() (test teardown) returns within 0.1 s instead of 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="mj-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MidjourneySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ control (tests)
    def set_image_url(self, task_id: str, url: str) -> None:
        self.tasks[task_id].image_url = url

    def finish_all(self) -> None:
        """Move every task to its end at once (tests that need no progress)."""
        with self._lock:
            for task in self.tasks.values():
                shift = int(self.config.step_seconds * 1000 * 10)
                task.submit_ms -= shift
                if task.modal_since_ms:
                    task.modal_since_ms -= shift

    # ------------------------------------------------------------ protocol
    def _new_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self._now_ms()}{self._counter:04d}"

    def view(self, task: SimTask) -> dict[str, Any]:
        """The task as midjourney-proxy's fetch and list-by-condition show it."""
        now = self._now_ms()
        step_ms = max(1, int(self.config.step_seconds * 1000))
        start = task.modal_since_ms if task.modal_since_ms else task.submit_ms
        steps = (now - start) // step_ms
        image_url, buttons, fail_reason, finish = "", [], "", 0
        if task.modal and not task.modal_since_ms:
            status, progress = "MODAL", "0%"
        elif steps <= 0:
            status, progress = "SUBMITTED", "0%"
        elif steps < 4:
            status, progress = "IN_PROGRESS", f"{int(steps) * 25}%"
            if steps >= 2 and task.action not in {"DESCRIBE", "SHORTEN"}:  # midjourney-proxy shows a preview
                image_url = f"{self.url}/images/{task.id}-preview.png"
        elif task.fail:
            status, progress, fail_reason = "FAILURE", "75%", "simulated failure: the job crashed"
            finish = start + 4 * step_ms
        else:
            status, progress, finish = "SUCCESS", "100%", start + 4 * step_ms
            if task.action not in {"DESCRIBE", "SHORTEN"}:
                image_url = task.image_url or f"{self.url}/images/{task.id}.png"
            if task.action in {"IMAGINE", "VARIATION", "REROLL", "BLEND", "ZOOM", "PAN", "HIGH_VARIATION",
                               "LOW_VARIATION", "INPAINT", "CUSTOM_ZOOM"}:
                buttons = grid_buttons(task.id)
            elif task.action == "UPSCALE":
                buttons = upscale_buttons(task.id)
        prompt_en = task.prompt
        description = f"/{task.action.lower()} {task.prompt}".strip()
        if status == "SUCCESS" and task.action == "DESCRIBE":
            prompt_en = "1\ufe0f\u20e3 a simulated description --ar 1:1\n\n2\ufe0f\u20e3 another one --ar 1:1"
            description = prompt_en
        return {
            "id": task.id,
            "action": task.action,
            "customId": "",
            "botType": "MID_JOURNEY",
            "prompt": task.prompt,
            "promptEn": prompt_en,
            "description": description,
            "state": task.state,
            "submitTime": task.submit_ms,
            "startTime": start + step_ms if steps >= 1 else 0,
            "finishTime": finish,
            "imageUrl": image_url,
            "status": status,
            "progress": progress,
            "failReason": fail_reason,
            "buttons": buttons,
            "maxIndex": 4 if buttons else 0,
            "properties": {"finalPrompt": prompt_en, "messageHash": _hash(task.id),
                           "discordInstanceId": "sim-instance"},
        }

    def submit(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prompt = str(body.get("prompt") or "")
        cfg = self.config
        if "sim:busy" in prompt or (cfg.submit_error_rate and self._rng.random() < cfg.submit_error_rate):
            return 503, {"error": "simulated overload"}
        if cfg.queue_full_rate and self._rng.random() < cfg.queue_full_rate:
            return 200, {"code": QUEUE_FULL, "description": "队列已满，请稍后尝试", "result": None,
                         "properties": {"discordInstanceId": "sim-instance"}}
        if "sim:banned" in prompt:
            return 200, {"code": BANNED, "description": "可能包含敏感词",
                         "properties": {"promptEn": prompt, "bannedWord": "sim:banned"}}
        parent: SimTask | None = None
        action, index = "", 0
        if kind == "imagine":
            if not prompt:
                return 200, _bad("prompt不能为空")
            action = "IMAGINE"
        elif kind == "blend":
            images = body.get("base64Array")
            if not isinstance(images, list) or not 2 <= len(images) <= 5:
                return 200, _bad("base64List参数错误")
            action = "BLEND"
        elif kind == "describe":
            if not body.get("base64"):
                return 200, _bad("base64参数错误")
            action = "DESCRIBE"
        elif kind == "shorten":
            if not prompt:
                return 200, _bad("prompt不能为空")
            action = "SHORTEN"
        elif kind == "edits":
            if not prompt or not body.get("image"):
                return 200, _bad("prompt和image不能为空")
            action = "EDITS"
        elif kind == "swap":
            if not body.get("sourceBase64") or not body.get("targetBase64"):
                return 200, _bad("sourceBase64和targetBase64不能为空")
            action, prompt = "SWAP_FACE", "InsightFace"
        elif kind == "video" and not body.get("taskId"):
            if not body.get("image") and not body.get("base64"):
                return 200, _bad("image不能为空")
            action = "VIDEO"
        elif kind in {"action", "change", "modal", "video"}:
            parent = self.tasks.get(str(body.get("taskId") or ""))
            if parent is None:
                return 200, _bad("关联任务不存在或已失效")
            status = self.view(parent)["status"]
            if kind == "modal":
                if status != "MODAL":
                    return 200, _bad("任务状态不是MODAL")
                parent.modal_since_ms = self._now_ms()
                if prompt:
                    parent.prompt = prompt
                return 200, {"code": ACCEPTED, "description": "提交成功", "result": parent.id, "properties": {}}
            if status != "SUCCESS":
                return 200, _bad("关联任务状态错误")
            if kind == "video":
                action = "VIDEO"
            elif kind == "action":
                custom_id = str(body.get("customId") or "")
                if custom_id not in {b["customId"] for b in self.view(parent)["buttons"]}:
                    return 200, _bad("customId不存在")
                action = action_of_custom_id(custom_id)
                parts = custom_id.split("::")
                index = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 1
            else:
                action = str(body.get("action") or "").upper()
                if action not in {"UPSCALE", "VARIATION", "REROLL"}:
                    return 200, _bad("action参数错误")
                index = int(body.get("index") or 0)
                if action != "REROLL" and not 1 <= index <= 4:
                    return 200, _bad("index参数错误")
            prompt = parent.prompt
        else:
            return 404, {"error": f"unknown submit kind {kind}"}
        task = SimTask(id=self._new_id(), action=action, prompt=prompt, submit_ms=self._now_ms(),
                       parent_id=parent.id if parent else "", index=index, state=str(body.get("state") or ""))
        task.fail = "sim:fail" in prompt or bool(cfg.fail_rate and self._rng.random() < cfg.fail_rate)
        task.vanish = "sim:vanish" in prompt
        if action in {"INPAINT", "CUSTOM_ZOOM"}:
            task.modal = True
        self.tasks[task.id] = task
        if task.modal:
            return 200, {"code": EXISTS, "description": "窗口等待", "result": task.id,
                         "properties": {"status": "MODAL", "finalPrompt": prompt}}
        if "sim:exists" in prompt:  # midjourney-proxy's 21 outside a modal: "already exists"
            return 200, {"code": EXISTS, "description": "任务已存在", "result": task.id,
                         "properties": {"discordInstanceId": "sim-instance"}}
        if "sim:queued" in prompt:
            return 200, {"code": QUEUED, "description": "排队中，前面还有1个任务", "result": task.id,
                         "properties": {"numberOfQueues": 1, "discordInstanceId": "sim-instance"}}
        return 200, {"code": ACCEPTED, "description": "提交成功", "result": task.id,
                     "properties": {"discordInstanceId": "sim-instance"}}

    def visible(self, task_id: str) -> SimTask | None:
        task = self.tasks.get(task_id)
        return None if task is None or task.vanish else task


def _bad(description: str) -> dict[str, Any]:
    return {"code": BAD_REQUEST, "description": description, "result": None, "properties": {}}


def _handler_for(sim: MidjourneySimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        def _reply(self, status: int, body: Any, content_type: str = "application/json",
                   headers: dict[str, str] | None = None) -> None:
            self.send_body(status, body, content_type, headers)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else {}
            except ValueError:
                return None

        def _authorised(self) -> bool:
            if sim.config.latency_seconds > 0:
                time.sleep(float(sim.config.latency_seconds))  # simulated upstream latency
            if not sim.config.secret or self.headers.get("mj-api-secret") == sim.config.secret:
                return True
            self._reply(401, {"code": 401, "description": "mj-api-secret is wrong"})
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            path = parts.path
            sim.requests.append(("GET", path))
            if path == "/health":
                self._reply(200, {"ok": True})
            elif path.startswith("/images/") and sim.config.images_expired:
                self._reply(403, EXPIRED_BODY, "application/xml")
            elif path.startswith("/images/"):
                self._reply(200, PNG, "image/png")
            elif path == "/redirect":
                target = parse_qs(parts.query).get("to", [""])[0]
                self._reply(302, b"", "text/plain", {"Location": target})
            elif path == "/page.html":
                self._reply(200, b"<script>alert(1)</script>", "text/html")
            elif path == "/big.png":
                self._reply(200, b"\x89PNG" + b"\0" * (3 * 1024 * 1024), "image/png")
            elif path.startswith("/mj/task/") and path.endswith("/image-seed"):
                if not self._authorised():
                    return
                task = sim.visible(path[len("/mj/task/"):-len("/image-seed")])
                if task is None:
                    self._reply(200, _bad("任务不存在"))
                else:
                    self._reply(200, {"code": ACCEPTED, "description": "成功", "properties": {},
                                      "result": str(zlib.crc32(task.id.encode()) % 4294967295 + 1)})
            elif path.startswith("/mj/task/") and path.endswith("/fetch"):
                if not self._authorised():
                    return
                task = sim.visible(path[len("/mj/task/"):-len("/fetch")])
                self._reply(200, sim.view(task) if task else None)
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            sim.requests.append(("POST", path))
            body = self._body()
            if isinstance(body, dict) and (path.startswith("/mj/submit/") or path == "/mj/insight-face/swap"):
                sim.submitted.append((path.rsplit("/", 1)[-1], body))
            if path == "/sim/config":
                for key, value in (body or {}).items():
                    if hasattr(sim.config, key):
                        setattr(sim.config, key, value)
                self._reply(200, asdict(sim.config))
                return
            if not self._authorised():
                return
            if not isinstance(body, dict):
                self._reply(400, _bad("请求体不是JSON对象"))
            elif path == "/mj/submit/upload-discord-images":
                images = body.get("base64Array")
                if not isinstance(images, list) or not images:
                    self._reply(200, _bad("base64Array不能为空"))
                else:
                    self._reply(200, {"code": ACCEPTED, "description": "上传成功", "properties": {},
                                      "result": [f"{sim.url}/images/upload-{i}.png" for i in range(len(images))]})
            elif path.startswith("/mj/submit/"):
                status, reply = sim.submit(path[len("/mj/submit/"):], body)
                self._reply(status, reply)
            elif path == "/mj/insight-face/swap":
                status, reply = sim.submit("swap", body)
                self._reply(status, reply)
            elif path == "/mj/task/list-by-condition":
                ids = body.get("ids") or []
                found = [sim.view(t) for t in (sim.visible(str(i)) for i in ids) if t is not None]
                self._reply(200, found)
            else:
                self._reply(404, {"error": "not found"})

    return Handler
