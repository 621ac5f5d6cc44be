"""Simulated Doubao Seedance (Volcengine Ark content generation tasks) and Google Veo (Gemini API long-running
operations) upstreams for tests and the local stack (docs/video.md; video-apis.md C.2, C.3).

Ark (`ArkSimulator`, `Authorization: Bearer <api_key>`):

    POST /api/v3/contents/generations/tasks        {model, content: [...], duration, resolution, ratio} -> {"id"}
    GET  /api/v3/contents/generations/tasks/{id}   -> task object (queued -> running -> succeeded | failed)

Gemini (`VeoSimulator`, `x-goog-api-key: <api_key>`):

    POST /v1beta/models/{model}:predictLongRunning -> {"name": "models/{model}/operations/{id}"}
    GET  /v1beta/models/{model}/operations/{id}    -> {"name", "done", "response" | "error"}

Results. Ark's `content.video_url` is a public signed URL, `GET /files/{id}.mp4` (no key). Veo's video
`uri` is Gemini's file download, `GET /v1beta/files/{id}:download?alt=media`, which needs the key and answers
302 to a **second origin** (a storage server on its own port, `storage_url`, as Google's download redirects
to its storage host) that serves the bytes to anyone holding the link. The storage server logs whether a
request carried the key (`storage_requests`, `GET /sim/storage`): the key must never reach it.

Knobs (`VideoSimConfig`; `ARK_SIM_*` / `VEO_SIM_*` environment; `POST /sim/config {field: value}`):
latency_s, submit_failure_rate (429/500), task_failure_rate, step_seconds (queued, running), result_bytes,
api_key, seed, files_expired (every result URL answers 403 "Request has expired"), storage_port. Prompt
controls: `sim:fail`, `sim:reject` (400), `sim:seconds=N` (Ark reports N seconds produced).
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infra.simulators import EXPIRED_BODY
from infra.simulators.base import SECONDS, SimHandler, SimulatorServer, asset_bytes, knobs_from_env


@dataclass
class VideoSimConfig:
    latency_s: float = 0.0
    submit_failure_rate: float = 0.0
    task_failure_rate: float = 0.0
    step_seconds: tuple[float, float] = (1.0, 2.0)
    result_bytes: int = 2 * 1024 * 1024
    api_key: str = "sim-secret"
    seed: int = 17
    files_expired: bool = False
    storage_port: int = 0  # Veo's storage origin (0: a free port)

    @classmethod
    def from_env(cls, prefix: str, environ: dict[str, str] | None = None) -> VideoSimConfig:
        env = os.environ if environ is None else environ
        config = cls()
        knobs_from_env(config, prefix, env)
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


class _VideoSimulator(SimulatorServer):
    name = "video-sim"
    config_type, state_type = VideoSimConfig, _State
    config: VideoSimConfig
    _state: _State
    fixed_settings = frozenset({"storage_port"})  # Veo's storage server is bound at start

    def _bind_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

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
            found = SECONDS.search(prompt)
            job = SimJob(id=f"{self._rng.randrange(16**12):012x}", model=model, body=body, created=self._now(),
                         created_s=int(time.time()),
                         fail="sim:fail" in prompt or self._rng.random() < self.config.task_failure_rate,
                         seconds=int(found.group(1)) if found else seconds)
            self._state.jobs[job.id] = job
            return 200, job

    def get(self, job_id: str) -> SimJob | None:
        with self._lock:
            return self._state.jobs.get(job_id)

    def succeeded(self, job_id: str) -> SimJob | None:
        job = self.get(job_id)
        return job if job is not None and self.phase(job) == "succeeded" else None

    def download(self, path: str, query: str) -> tuple[int, Any, dict[str, str]]:
        """A keyed result download (Veo's); (404, ...) where there is none."""
        return 404, self.error(404, "not found"), {}

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
    DOWNLOAD = re.compile(r"/v1beta/files/([0-9a-f]+):download")

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: VideoSimConfig | None = None) -> None:
        super().__init__(host, port, config)
        self.storage_requests: list[dict[str, Any]] = []  # {"path", "with_key"}: the key must never be there
        self._storage = ThreadingHTTPServer((host, self.config.storage_port), _storage_handler_for(self))
        self._storage.daemon_threads = True
        self.storage_port = int(self._storage.server_address[1])
        self.storage_url = f"http://{host}:{self.storage_port}"
        self._storage_thread: threading.Thread | None = None

    def start(self) -> VeoSimulator:
        self._storage_thread = threading.Thread(target=self._storage.serve_forever, name="veo-storage", daemon=True)
        self._storage_thread.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        if self._storage_thread is not None:
            self._storage.shutdown()
            self._storage_thread = None
        self._storage.server_close()

    def download(self, path: str, query: str) -> tuple[int, Any, dict[str, str]]:
        found = self.DOWNLOAD.fullmatch(path)
        if found is None or "alt=media" not in query or self.succeeded(found.group(1)) is None:
            return 404, self.error(404, "file not found"), {}
        if self.config.files_expired:
            return 404, self.error(404, "the file has expired"), {}
        return 302, b"", {"Location": f"{self.storage_url}/storage/{found.group(1)}.mp4?X-Goog-Signature=sim"}

    def storage_view(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": list(self.storage_requests)}

    def log_storage(self, path: str, headers: Any) -> None:
        key = self.config.api_key
        carried = any(key and key in str(value) for value in headers.values()) or (key and key in path) or \
            any(name.lower() in ("x-goog-api-key", "authorization") for name in headers)
        with self._lock:
            self.storage_requests.append({"path": path, "with_key": bool(carried)})

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
        uri = f"{self.url}/v1beta/files/{job.id}:download?alt=media"
        return 200, {"name": name, "done": True, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}}}


def send_video(handler: SimHandler, sim: _VideoSimulator, job_id: str) -> None:
    """The result file's bytes (`asset_bytes(id, "video", result_bytes)`), or 403 once expired, 404 if none."""
    job = sim.succeeded(job_id)
    if sim.config.files_expired:
        handler.send_body(403, EXPIRED_BODY, "application/xml")
        return
    if job is None:
        handler.send_body(404, sim.error(404, "not found"))
        return
    handler.send_asset(asset_bytes(job.id, "video", sim.config.result_bytes), "video/mp4")


def _storage_handler_for(sim: VeoSimulator) -> type[BaseHTTPRequestHandler]:
    class Storage(SimHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            sim.log_storage(self.path, self.headers)
            path = urlsplit(self.path).path
            if path == "/health":
                self.send_body(200, {"status": "ok"})
            elif path.startswith("/storage/") and path.endswith(".mp4"):
                send_video(self, sim, path[len("/storage/"):-4])
            else:
                self.send_body(404, sim.error(404, "not found"))

    return Storage


def _handler_for(sim: _VideoSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(SimHandler):
        def _file(self, job_id: str) -> None:
            send_video(self, sim, job_id)

        def _gate(self) -> bool:
            if not sim.authorised(self.headers):
                self.send_body(401, sim.error(401, "invalid api key"))
                return False
            self.delay(sim)
            return True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == "/health":
                self.send_body(200, {"status": "ok"})
            elif path == "/sim/storage" and isinstance(sim, VeoSimulator):
                self.send_body(200, sim.storage_view())
            elif path.startswith("/files/") and path.endswith(".mp4") and not isinstance(sim, VeoSimulator):
                self._file(path[len("/files/"):-4])  # Ark's public signed URL (Veo's needs the key: below)
            elif not self._gate():
                return
            elif path.startswith("/v1beta/files/"):
                status, body, headers = sim.download(path, urlsplit(self.path).query)
                self.send_body(status, body, headers=headers)
            else:
                self.send_body(*sim.fetch(path))

        def do_POST(self) -> None:  # noqa: N802
            body = self.read_json()
            if urlsplit(self.path).path == "/sim/config":
                self.answer_config(sim, body, lambda message: sim.error(400, message))
                return
            if not self._gate():
                return
            if not isinstance(body, dict):
                self.send_body(400, sim.error(400, "body must be a JSON object"))
                return
            self.send_body(*sim.post(urlsplit(self.path).path, body))

    return Handler
