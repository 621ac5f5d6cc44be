"""Simulated Doubao Seedance (Volcengine Ark content generation tasks) and Google Veo (Gemini API long-running
operations) upstreams for tests and the local stack (docs/video.md; video-apis.md C.2, C.3).

Ark (`ArkSimulator`, `Authorization: Bearer <api_key>`):

    POST /api/v3/contents/generations/tasks        {model, content: [...], duration, resolution, ratio} -> {"id"}
    GET  /api/v3/contents/generations/tasks/{id}   -> task object (queued -> running -> succeeded | failed)

Gemini (`VeoSimulator`, `x-goog-api-key: <api_key>`):

    POST /v1beta/models/{model}:predictLongRunning -> {"name": "models/{model}/operations/{id}"}
    GET  /v1beta/models/{model}/operations/{id}    -> {"name", "done", "response" | "error"}

Both serve the result at `GET /files/{id}.mp4` without a key (standing for the kept copy; docs/video.md).
Knobs (`VideoSimConfig`; `ARK_SIM_*` / `VEO_SIM_*` environment): latency_s, submit_failure_rate (429/500),
task_failure_rate, step_seconds (queued, running), result_bytes, api_key, seed. Prompt controls: `sim:fail`,
`sim:reject` (400), `sim:seconds=N` (Ark reports N seconds produced).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infra.simulators import QuietJsonHandler
from infra.simulators.sora import CHUNK, asset_bytes

_SECONDS = re.compile(r"sim:seconds=(\d{1,4})")


@dataclass
class VideoSimConfig:
    latency_s: float = 0.0
    submit_failure_rate: float = 0.0
    task_failure_rate: float = 0.0
    step_seconds: tuple[float, float] = (1.0, 2.0)
    result_bytes: int = 2 * 1024 * 1024
    api_key: str = "sim-secret"
    seed: int = 17

    @classmethod
    def from_env(cls, prefix: str, environ: dict[str, str] | None = None) -> VideoSimConfig:
        env = os.environ if environ is None else environ
        config = cls()
        for name in ("latency_s", "submit_failure_rate", "task_failure_rate"):
            var = f"{prefix}_{name.upper().removesuffix('_S')}"
            if env.get(var):
                setattr(config, name, float(env[var]))
        if env.get(f"{prefix}_STEP_SECONDS"):
            parts = [float(p) for p in env[f"{prefix}_STEP_SECONDS"].split(",")]
            config.step_seconds = (parts[0], parts[-1])
        if env.get(f"{prefix}_RESULT_BYTES"):
            config.result_bytes = int(env[f"{prefix}_RESULT_BYTES"])
        return config


@dataclass
class SimJob:
    id: str
    model: str
    body: dict[str, Any]
    created: float
    created_s: int
    fail: bool
    seconds: int


@dataclass
class _State:
    jobs: dict[str, SimJob] = field(default_factory=dict)
    creates: list[dict[str, Any]] = field(default_factory=list)
    offset: float = 0.0


class _VideoSimulator:
    name = "video-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: VideoSimConfig | None = None) -> None:
        self.config = config or VideoSimConfig()
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._state = _State()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[0], int(self._server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> _VideoSimulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> _VideoSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def creates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.creates)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._state.offset += seconds

    def _now(self) -> float:
        return time.monotonic() + self._state.offset

    def phase(self, job: SimJob) -> str:
        queued, running = self.config.step_seconds
        elapsed = self._now() - job.created
        if elapsed >= queued + running:
            return "failed" if job.fail else "succeeded"
        return "running" if elapsed >= queued else "queued"

    def new_job(self, model: str, prompt: str, body: dict[str, Any], seconds: int) -> tuple[int, Any]:
        with self._lock:
            self._state.creates.append({"model": model, **body})
            if not prompt:
                return 400, self.error(400, "prompt is required")
            if "sim:reject" in prompt:
                return 400, self.error(400, "the request was rejected by the content policy")
            if self.config.submit_failure_rate and self._rng.random() < self.config.submit_failure_rate:
                status = self._rng.choice((429, 500))
                return status, self.error(status, "simulated failure")
            found = _SECONDS.search(prompt)
            job = SimJob(id=f"{self._rng.randrange(16**12):012x}", model=model, body=body, created=self._now(),
                         created_s=int(time.time()),
                         fail="sim:fail" in prompt or self._rng.random() < self.config.task_failure_rate,
                         seconds=int(found.group(1)) if found else seconds)
            self._state.jobs[job.id] = job
            return 200, job

    def get(self, job_id: str) -> SimJob | None:
        with self._lock:
            return self._state.jobs.get(job_id)

    # per protocol
    def error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def authorised(self, headers: Any) -> bool:
        raise NotImplementedError

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError

    def fetch(self, path: str) -> tuple[int, Any]:
        raise NotImplementedError


class ArkSimulator(_VideoSimulator):
    name = "ark-sim"
    TASKS = "/api/v3/contents/generations/tasks"

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": "InvalidParameter" if status == 400 else "ServerError", "message": message}}

    def authorised(self, headers: Any) -> bool:
        return not self.config.api_key or headers.get("Authorization", "") == f"Bearer {self.config.api_key}"

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path != self.TASKS:
            return 404, self.error(404, "not found")
        content = body.get("content") if isinstance(body.get("content"), list) else []
        prompt = " ".join(str(c.get("text") or "") for c in content if isinstance(c, dict) and c.get("type") == "text")
        status, job = self.new_job(str(body.get("model") or ""), prompt.strip(), body, int(body.get("duration") or 5))
        return (status, {"id": f"cgt-{job.id}"}) if status == 200 else (status, job)

    def fetch(self, path: str) -> tuple[int, Any]:
        job = self.get(path.removeprefix(self.TASKS + "/cgt-")) if path.startswith(self.TASKS + "/cgt-") else None
        if job is None:
            return 404, self.error(404, "task not found")
        phase = self.phase(job)
        task: dict[str, Any] = {"id": f"cgt-{job.id}", "model": job.model, "status": phase,
                                "created_at": job.created_s, "updated_at": int(time.time()),
                                "resolution": job.body.get("resolution"), "ratio": job.body.get("ratio"),
                                "duration": job.seconds}
        if phase == "succeeded":
            task["content"] = {"video_url": f"{self.url}/files/{job.id}.mp4"}
            task["usage"] = {"completion_tokens": 108_900, "total_tokens": 108_900}
        elif phase == "failed":
            task["error"] = {"code": "OutputVideoSensitiveContentDetected", "message": "simulated generation failure"}
        return 200, task


class VeoSimulator(_VideoSimulator):
    name = "veo-sim"
    _CREATE = re.compile(r"/v1beta/models/([A-Za-z0-9.\-]+):predictLongRunning")
    _OPERATION = re.compile(r"/v1beta/models/([A-Za-z0-9.\-]+)/operations/([0-9a-f]+)")

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT" if status == 400
                          else "INTERNAL"}}

    def authorised(self, headers: Any) -> bool:
        return not self.config.api_key or headers.get("x-goog-api-key", "") == self.config.api_key

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        found = self._CREATE.fullmatch(path)
        if found is None:
            return 404, self.error(404, "not found")
        instances = body.get("instances") if isinstance(body.get("instances"), list) else [{}]
        prompt = str((instances[0] if instances and isinstance(instances[0], dict) else {}).get("prompt") or "")
        params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        status, job = self.new_job(found.group(1), prompt, body, int(params.get("durationSeconds") or 8))
        if status != 200:
            return status, job
        return 200, {"name": f"models/{job.model}/operations/{job.id}"}

    def fetch(self, path: str) -> tuple[int, Any]:
        found = self._OPERATION.fullmatch(path)
        job = self.get(found.group(2)) if found else None
        if job is None:
            return 404, self.error(404, "operation not found")
        name, phase = f"models/{job.model}/operations/{job.id}", self.phase(job)
        if phase in ("queued", "running"):
            return 200, {"name": name, "done": False, "metadata": {}}
        if phase == "failed":
            return 200, {"name": name, "done": True, "error": {"code": 3, "message": "simulated generation failure"}}
        uri = f"{self.url}/files/{job.id}.mp4"
        return 200, {"name": name, "done": True, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}}}


def _handler_for(sim: _VideoSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        def _file(self, job_id: str) -> None:
            job = sim.get(job_id)
            if job is None or sim.phase(job) != "succeeded":
                self.send_body(404, sim.error(404, "not found"))
                return
            data = asset_bytes(job.id, "video", sim.config.result_bytes)
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for start in range(0, len(data), CHUNK):
                self.wfile.write(data[start:start + CHUNK])

        def _gate(self) -> bool:
            if not sim.authorised(self.headers):
                self.send_body(401, sim.error(401, "invalid api key"))
                return False
            if sim.config.latency_s > 0:
                time.sleep(sim.config.latency_s)  # simulated upstream latency
            return True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == "/health":
                self.send_body(200, {"status": "ok"})
            elif path.startswith("/files/") and path.endswith(".mp4"):
                self._file(path[len("/files/"):-4])
            elif self._gate():
                self.send_body(*sim.fetch(path))

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else None
            except ValueError:
                body = None
            if not self._gate():
                return
            if not isinstance(body, dict):
                self.send_body(400, sim.error(400, "body must be a JSON object"))
                return
            self.send_body(*sim.post(urlsplit(self.path).path, body))

    return Handler
