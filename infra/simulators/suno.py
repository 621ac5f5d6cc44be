"""A simulated Suno API upstream for tests and the local stack (standard library only).

Routes (the upstream's three, same envelope as the relay: `{"code": "success", "message": "", "data": ...}`):

    POST /suno/submit/{music|lyrics}   (case-insensitive)   -> data: "<upstream id>"
    POST /suno/fetch  {"ids": [...]}                        -> data: [item, ...] (unknown ids left out)
    GET  /suno/fetch/{id}                                   -> data: item | 400 task_not_exist
    GET  /health                                            -> ok
    GET  /files/<clip>.<mp3|png|mp4>                        -> the clip's file (public, as Suno's CDN)
    POST /sim/config  {field: value}                        -> change the knobs at run time

An item is `{task_id, action, status, fail_reason, submit_time, start_time, finish_time, progress, data}`
(times in seconds). Tasks move with time: SUBMITTED, QUEUED, IN_PROGRESS (progress grows), then
SUCCESS (music: two clips with audio/image/video URLs; lyrics: title and text) or FAILURE.

Knobs (`SunoSimConfig`, also from `SUNO_SIM_*` environment variables): `latency_s` (before every
answer), `submit_failure_rate` (answers 429 or 500), `task_failure_rate` (ends FAILURE),
`forget_rate` (the task vanishes from fetch once it is in progress), `step_seconds` (time in
SUBMITTED, QUEUED, IN_PROGRESS), `api_key` (required bearer key, "" = none), `seed` (every random
decision comes from one seeded generator, so a run is reproducible), `file_bytes` (size of each served
audio/video file; `infra.simulators.file_bytes(name, size)` gives its bytes), `files_expired` (every file
URL answers 403 "Request has expired", as a lapsed signed URL: the results kept tests, docs/results.md).

Deterministic controls for tests: a prompt containing `sim:fail` ends in FAILURE, `sim:vanish` is
forgotten, `sim:reject` is refused with HTTP 400, `sim:refuse` with HTTP 200 and the envelope code
`prompt_refused` (the Suno API's refusal that new-api relays with HTTP 500);
`script_submits(429, 500, "timeout", 400, ...)` makes the next submissions answer those statuses in
order; `advance(seconds)` moves the simulator's clock; `finish_all()` ends every task now.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from infra.simulators.base import SimHandler, SimulatorServer

ACTIONS = ("MUSIC", "LYRICS")
SUBMIT_MESSAGE = "submitted"  # the upstream's message on an accepted submit (the relay passes it on verbatim)


@dataclass
class SunoSimConfig:
    latency_s: float = 0.0
    submit_failure_rate: float = 0.0
    task_failure_rate: float = 0.0
    forget_rate: float = 0.0
    step_seconds: tuple[float, float, float] = (1.0, 1.0, 2.0)  # SUBMITTED, QUEUED, IN_PROGRESS
    api_key: str = "sim-secret"
    seed: int = 7
    timeout_s: float = 30.0  # how long a scripted "timeout" answer stalls
    file_bytes: int = 256 * 1024  # size of each served audio/video file (images are a tenth)
    files_expired: bool = False  # every /files/ URL answers 403, as an expired signed URL

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SunoSimConfig:
        env = os.environ if environ is None else environ
        config = cls()
        for name, var in (("latency_s", "SUNO_SIM_LATENCY"), ("submit_failure_rate", "SUNO_SIM_SUBMIT_FAILURE_RATE"),
                          ("task_failure_rate", "SUNO_SIM_TASK_FAILURE_RATE"), ("forget_rate", "SUNO_SIM_FORGET_RATE")):
            if env.get(var):
                setattr(config, name, float(env[var]))
        if env.get("SUNO_SIM_STEP_SECONDS"):
            parts = [float(p) for p in env["SUNO_SIM_STEP_SECONDS"].split(",")]
            config.step_seconds = tuple((parts * 3)[:3]) if len(parts) == 1 else tuple(parts[:3])  # type: ignore[assignment]
        if env.get("SUNO_SIM_SEED"):
            config.seed = int(env["SUNO_SIM_SEED"])
        if "SUNO_SIM_API_KEY" in env:
            config.api_key = env["SUNO_SIM_API_KEY"]
        return config


@dataclass
class SimTask:
    id: str
    action: str
    body: dict[str, Any]
    created: float  # simulator clock (seconds)
    submit_time: int  # epoch seconds
    fail: bool = False
    forget: bool = False
    done_at: float | None = None  # set by finish_all


@dataclass
class SubmitRecord:
    action: str
    body: dict[str, Any]
    authorization: str
    status: int
    upstream_id: str = ""


@dataclass
class _State:
    tasks: dict[str, SimTask] = field(default_factory=dict)
    script: list[int | str] = field(default_factory=list)
    submits: list[SubmitRecord] = field(default_factory=list)
    fetches: int = 0
    offset: float = 0.0


class SunoSimulator(SimulatorServer):
    """`with SunoSimulator() as sim: sim.url` - an HTTP server on a free port, in a daemon thread."""

    name = "suno-sim"
    config_type, state_type = SunoSimConfig, _State
    config: SunoSimConfig
    _state: _State

    def _bind_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # ------------------------------------------------------------ test controls
    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    def script_submits(self, *answers: int | str) -> None:
        """The next submissions answer these, in order: an HTTP status (429, 500, 400...), "timeout" or "drop"."""
        with self._lock:
            self._state.script.extend(answers)

    def finish_all(self) -> None:
        with self._lock:
            now = self._now()
            for task in self._state.tasks.values():
                task.done_at = now

    @property
    def submits(self) -> list[SubmitRecord]:
        with self._lock:
            return list(self._state.submits)

    @property
    def fetch_count(self) -> int:
        return self._state.fetches

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self._rng = random.Random(self.config.seed)

    # ------------------------------------------------------------ protocol
    def _next_id(self) -> str:
        self._counter += 1
        return f"suno-{self.port}-{self._counter:06d}-{self._rng.randrange(16**8):08x}"

    def submit(self, action: str, body: Any, authorization: str) -> tuple[int | str, dict[str, Any]]:
        action = action.upper()
        with self._lock:
            scripted = self._state.script.pop(0) if self._state.script else None
            record = SubmitRecord(action, body if isinstance(body, dict) else {}, authorization, 200)
            self._state.submits.append(record)
            if scripted is not None and scripted != 200:
                record.status = scripted if isinstance(scripted, int) else 0
                return scripted, _error("simulated_error", f"scripted answer {scripted}")
            if action not in ACTIONS:
                record.status = 400
                return 400, _error("invalid_action", f"unknown action {action}")
            if not isinstance(body, dict):
                record.status = 400
                return 400, _error("invalid_request", "body must be a JSON object")
            prompt = str(body.get("prompt") or "")
            description = str(body.get("gpt_description_prompt") or "")
            if action == "LYRICS" and not prompt:
                record.status = 400
                return 400, _error("invalid_request", "prompt is required")
            if "sim:reject" in prompt + description:
                record.status = 400
                return 400, _error("prompt_rejected", "the prompt was rejected")
            if "sim:refuse" in prompt + description:
                return 200, _error("prompt_refused", "the prompt breaks the content policy")
            if self.config.submit_failure_rate and self._rng.random() < self.config.submit_failure_rate:
                status = self._rng.choice((429, 500))
                record.status = status
                return status, _error("upstream_busy" if status == 429 else "internal_error", "simulated failure")
            text = prompt + " " + description
            task = SimTask(
                id=self._next_id(), action=action, body=body, created=self._now(), submit_time=int(time.time()),
                fail="sim:fail" in text or self._rng.random() < self.config.task_failure_rate,
                forget="sim:vanish" in text or self._rng.random() < self.config.forget_rate,
            )
            self._state.tasks[task.id] = task
            record.upstream_id = task.id
            return 200, {"code": "success", "message": SUBMIT_MESSAGE, "data": task.id}

    def view(self, task: SimTask) -> dict[str, Any] | None:
        """The task as fetch shows it now; None once it is forgotten."""
        s1, s2, s3 = self.config.step_seconds
        now = self._now()
        elapsed = now - task.created
        done = (task.done_at is not None and now >= task.done_at) or elapsed >= s1 + s2 + s3
        wall = lambda offset: task.submit_time + int(offset)  # noqa: E731 - tiny local helper
        item: dict[str, Any] = {"task_id": task.id, "action": task.action, "status": "SUBMITTED",
                                "fail_reason": "", "submit_time": task.submit_time, "start_time": 0,
                                "finish_time": 0, "progress": "0%", "data": None}
        if task.forget and (done or elapsed >= s1 + s2):
            return None
        if done:
            item.update(start_time=wall(s1 + s2), finish_time=wall(min(elapsed, s1 + s2 + s3)), progress="100%")
            if task.fail:
                item.update(status="FAILURE", fail_reason="simulated generation failure")
            else:
                item.update(status="SUCCESS", data=self._result(task))
        elif elapsed >= s1 + s2:
            share = (elapsed - s1 - s2) / s3 if s3 else 1.0
            item.update(status="IN_PROGRESS", start_time=wall(s1 + s2), progress=f"{min(99, int(share * 100))}%")
        elif elapsed >= s1:
            item["status"] = "QUEUED"
        return item

    def _result(self, task: SimTask) -> Any:
        prompt = str(task.body.get("prompt") or task.body.get("gpt_description_prompt") or "")
        title = str(task.body.get("title") or prompt[:30] or "Untitled")
        if task.action == "LYRICS":
            return {"id": task.id, "title": title, "text": f"[Verse]\n{prompt}\n[Chorus]\n{prompt}",
                    "status": "complete"}
        base = self.url
        return [
            {"id": f"{task.id}-{n}", "title": title, "status": "complete",
             "model_name": task.body.get("mv") or "chirp-v3-5",
             "audio_url": f"{base}/files/{task.id}-{n}.mp3", "image_url": f"{base}/files/{task.id}-{n}.png",
             "video_url": f"{base}/files/{task.id}-{n}.mp4",
             "metadata": {"prompt": prompt, "tags": task.body.get("tags") or "", "duration": 120.0 + n}}
            for n in (0, 1)
        ]

    def fetch(self, ids: list[Any]) -> list[dict[str, Any]]:
        with self._lock:
            self._state.fetches += 1
            out = []
            for upstream_id in ids:
                task = self._state.tasks.get(str(upstream_id))
                item = self.view(task) if task is not None else None
                if item is not None:
                    out.append(item)
            return out

    def fetch_one(self, upstream_id: str) -> dict[str, Any] | None:
        items = self.fetch([upstream_id])
        return items[0] if items else None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": None}


def _handler_for(sim: SunoSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(SimHandler):
        def _reply(self, status: int, body: Any) -> None:
            self.send_body(status, body)

        def _authorised(self) -> bool:
            key = sim.config.api_key
            if key and self.headers.get("Authorization", "") != f"Bearer {key}":
                self._reply(401, _error("unauthorized", "invalid api key"))
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path.rstrip("/")
            if path == "/health":
                self._reply(200, {"status": "ok", "tasks": len(sim._state.tasks)})
                return
            if path.startswith("/files/"):  # images are a tenth of file_bytes
                self.send_file(path[len("/files/"):], int(sim.config.file_bytes), expired=sim.config.files_expired)
                return
            if not self._authorised():
                return
            self.delay(sim)
            if path.startswith("/suno/fetch/"):
                item = sim.fetch_one(path.rsplit("/", 1)[1])
                if item is None:
                    self._reply(400, _error("task_not_exist", "task_not_exist"))
                else:
                    self._reply(200, {"code": "success", "message": "", "data": item})
                return
            self._reply(404, _error("not_found", f"no route {path}"))

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path.rstrip("/")
            body = self.read_json()
            if path == "/sim/config":
                self.answer_config(sim, body, lambda message: _error("invalid_request", message),
                                   lambda config: {"code": "success", "message": "", "data": config})
                return
            if not self._authorised():
                return
            self.delay(sim)
            if path.startswith("/suno/submit/"):
                status, reply = sim.submit(path.rsplit("/", 1)[1], body, self.headers.get("Authorization", ""))
                if status == "timeout":
                    time.sleep(sim.config.timeout_s)  # longer than the client's read timeout
                    status = 504
                if status == "drop":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self._reply(int(status), reply)
                return
            if path == "/suno/fetch":
                ids = body.get("ids") if isinstance(body, dict) else None
                if not isinstance(ids, list):
                    self._reply(400, _error("invalid_request", "ids must be a list"))
                    return
                self._reply(200, {"code": "success", "message": "", "data": sim.fetch(ids)})
                return
            self._reply(404, _error("not_found", f"no route {path}"))

    return Handler


def main() -> None:  # pragma: no cover - manual use: python -m infra.simulators.suno --port 7001
    import argparse

    parser = argparse.ArgumentParser(description="Simulated Suno API upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7001)
    args = parser.parse_args()
    sim = SunoSimulator(args.host, args.port, SunoSimConfig.from_env()).start()
    print(f"suno simulator on {sim.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
