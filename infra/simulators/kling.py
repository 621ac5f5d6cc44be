"""A simulated Kling upstream for tests and the local stack (docs/video.md; Kling API "General Information").

Routes (Kling's envelope `{"code", "message", "request_id", "data"}`; times in milliseconds):

    POST /v1/videos/text2video | /v1/videos/image2video   -> data {task_id, task_status: "submitted", ...}
    GET  /v1/videos/{text2video|image2video}/{task_id}     -> data with task_status, task_result.videos
    GET  /files/{task_id}.mp4                              -> the video (public, as Kling's CDN URLs)
    GET  /health; POST /sim/config {field: value}

Auth: `Authorization: Bearer <JWT>` HS256 signed with the secret key, iss = the access key, nbf/exp checked
(PyJWT); failures answer 401 with code 1000 (auth failed), 1001 (empty), 1002 (invalid), 1003 (not yet
valid), 1004 (expired). Knobs (`KlingSimConfig`, `KLING_SIM_*`): latency_s, submit_failure_rate (429 code
1302 or 500 code 5000), task_failure_rate, step_seconds (submitted, processing), result_bytes, access_key,
secret_key, seed. Prompt controls: `sim:fail`, `sim:reject` (400 code 1301), `sim:seconds=N`.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import jwt

from infra.simulators.base import SECONDS, SimHandler, SimulatorServer, asset_bytes, handler_for, knobs_from_env


@dataclass
class KlingSimConfig:
    latency_s: float = 0.0
    submit_failure_rate: float = 0.0
    task_failure_rate: float = 0.0
    step_seconds: tuple[float, float] = (1.0, 2.0)  # submitted, processing
    result_bytes: int = 2 * 1024 * 1024
    access_key: str = "sim-ak"
    secret_key: str = "sim-kling-secret-key-0123456789abcdef"  # >= 32 bytes for HS256
    seed: int = 13

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KlingSimConfig:
        env = os.environ if environ is None else environ
        config = cls()
        knobs_from_env(config, "KLING_SIM", env)
        return config


@dataclass
class KlingTask:
    id: str
    action: str
    body: dict[str, Any]
    created: float
    created_ms: int
    fail: bool
    seconds: str


@dataclass
class _State:
    tasks: dict[str, KlingTask] = field(default_factory=dict)
    creates: list[dict[str, Any]] = field(default_factory=list)
    offset: float = 0.0


def _envelope(code: int, message: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": str(uuid.uuid4()), "data": data}


class KlingSimulator(SimulatorServer):
    """`with KlingSimulator() as sim: sim.url` - an HTTP server on a free port, in a daemon thread."""

    name = "kling-sim"
    config_type, state_type = KlingSimConfig, _State
    config: KlingSimConfig
    _state: _State

    def _bind_handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(_Handler, self)

    def auth_error(self, header: str) -> tuple[int, str] | None:
        """(code, message) when the bearer JWT is not good, else None."""
        if not header.startswith("Bearer ") or not header[7:].strip():
            return 1001, "Authorization is empty"
        try:
            claims = jwt.decode(header[7:], self.config.secret_key, algorithms=["HS256"],
                                options={"require": ["iss", "exp", "nbf"]})
        except jwt.ImmatureSignatureError:
            return 1003, "Authorization is not yet valid"
        except jwt.ExpiredSignatureError:
            return 1004, "Authorization has expired"
        except jwt.InvalidTokenError:
            return 1002, "Authorization is invalid"
        if claims.get("iss") != self.config.access_key:
            return 1000, "Authentication failed"
        return None

    def create(self, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prompt = str(body.get("prompt") or "")
        with self._lock:
            self._state.creates.append({"action": action, **body})
            if "sim:reject" in prompt:
                return 400, _envelope(1301, "content security policy violated")
            if self.config.submit_failure_rate and self._rng.random() < self.config.submit_failure_rate:
                return (429, _envelope(1302, "rate limit")) if self._rng.random() < 0.5 else \
                    (500, _envelope(5000, "server error"))
            found = SECONDS.search(prompt)
            task = KlingTask(id=str(self._rng.randrange(10**17, 10**18)), action=action, body=body,
                             created=self._now(), created_ms=int(time.time() * 1000),
                             fail="sim:fail" in prompt or self._rng.random() < self.config.task_failure_rate,
                             seconds=found.group(1) if found else str(body.get("duration") or "5"))
            self._state.tasks[task.id] = task
        return 200, _envelope(0, "SUCCEED", {"task_id": task.id, "task_status": "submitted",
                                             "created_at": task.created_ms, "updated_at": task.created_ms})

    def view(self, task: KlingTask) -> dict[str, Any]:
        submitted, processing = self.config.step_seconds
        elapsed = self._now() - task.created
        status = "submitted"
        if elapsed >= submitted + processing:
            status = "failed" if task.fail else "succeed"
        elif elapsed >= submitted:
            status = "processing"
        data: dict[str, Any] = {"task_id": task.id, "task_status": status, "created_at": task.created_ms,
                                "updated_at": task.created_ms + int(min(elapsed, submitted + processing) * 1000)}
        if status == "failed":
            data["task_status_msg"] = "simulated generation failure"
        if status == "succeed":
            data["final_unit_deduction"] = "1" if task.seconds == "5" else "2"
            data["task_result"] = {"videos": [{"id": f"v{task.id}", "url": f"{self.url}/files/{task.id}.mp4",
                                               "duration": task.seconds}]}
        return data

    def get(self, task_id: str) -> KlingTask | None:
        with self._lock:
            return self._state.tasks.get(task_id)


class _Handler(SimHandler):
    sim: KlingSimulator  # set by handler_for

    def _authorised(self) -> bool:
        error = self.sim.auth_error(self.headers.get("Authorization", ""))
        if error is not None:
            self.send_body(401, _envelope(error[0], error[1]))
            return False
        self.delay(self.sim)
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if parts == ["health"]:
            self.send_body(200, {"status": "ok", "tasks": len(self.sim._state.tasks)})
            return
        if len(parts) == 2 and parts[0] == "files" and parts[1].endswith(".mp4"):
            task = self.sim.get(parts[1][:-4])
            if task is None or self.sim.view(task)["task_status"] != "succeed":
                self.send_body(404, _envelope(1203, "not found"))
                return
            self.send_asset(asset_bytes(task.id, "video", self.sim.config.result_bytes), "video/mp4")
            return
        if not self._authorised():
            return
        if len(parts) == 4 and parts[:2] == ["v1", "videos"] and parts[2] in ("text2video", "image2video"):
            task = self.sim.get(parts[3])
            if task is None:
                self.send_body(404, _envelope(1203, "task not found"))
            else:
                self.send_body(200, _envelope(0, "SUCCEED", self.sim.view(task)))
            return
        self.send_body(404, _envelope(1200, f"no route {self.path}"))

    def do_POST(self) -> None:  # noqa: N802
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        body = self.read_json()
        if parts == ["sim", "config"]:
            self.answer_config(self.sim, body, lambda message: _envelope(1200, message),
                               lambda config: _envelope(0, "SUCCEED", config))
            return
        if not self._authorised():
            return
        if len(parts) == 3 and parts[:2] == ["v1", "videos"] and parts[2] in ("text2video", "image2video"):
            if not isinstance(body, dict) or not body.get("prompt"):
                self.send_body(400, _envelope(1201, "prompt is required"))
                return
            self.send_body(*self.sim.create(parts[2], body))
            return
        self.send_body(404, _envelope(1200, f"no route {self.path}"))

