"""A simulated OpenAI Videos API (Sora) upstream for tests and the local stack (standard library only).

Routes (the OpenAI Videos API's, docs/video.md; errors in OpenAI's envelope):

    POST   /v1/videos                 JSON or multipart/form-data -> video object, status "queued"
    GET    /v1/videos/{id}            -> video object (queued -> in_progress -> completed | failed)
    POST   /v1/videos/{id}/remix      {"prompt"} -> new video object (source must be completed)
    DELETE /v1/videos/{id}            -> {"id", "object": "video.deleted", "deleted": true} (terminal only)
    GET    /v1/videos/{id}/content?variant=video|thumbnail|spritesheet -> the asset's bytes
    GET    /health; POST /sim/config {field: value}

Every route but /health and /sim/config needs `Authorization: Bearer <api_key>`, content too (as OpenAI's:
only the result keeper, through the Sora adapter, downloads it; clients get our kept copy: docs/results.md).
`content_expired` makes every content request answer 404 (the asset is gone upstream, as after
`expires_at`), so a test can show the kept copy outlives it.

Knobs (`SoraSimConfig`, also `SORA_SIM_*` environment variables): latency_s, submit_failure_rate (429 or
500), task_failure_rate, step_seconds (queued, in_progress), result_bytes (size of the video asset, several
MB by default), api_key, seed. Prompt controls: `sim:fail` ends failed, `sim:reject` is refused with 400,
`sim:seconds=N` reports N seconds produced (settlement tests). Asset bytes are `asset_bytes(id, variant, n)`:
deterministic, so a test can compare a download byte for byte.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.simulators.base import CHUNK, SECONDS, SimHandler, SimulatorServer, asset_bytes, handler_for, knobs_from_env

__all__ = ["CHUNK", "THUMBNAIL_BYTES", "SoraSimConfig", "SoraSimulator", "asset_bytes"]

THUMBNAIL_BYTES = 24 * 1024


@dataclass
class SoraSimConfig:
    latency_s: float = 0.0
    submit_failure_rate: float = 0.0
    task_failure_rate: float = 0.0
    step_seconds: tuple[float, float] = (1.0, 2.0)  # queued, in_progress
    result_bytes: int = 3 * 1024 * 1024
    api_key: str = "sim-secret"
    seed: int = 11
    content_expired: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SoraSimConfig:
        env = os.environ if environ is None else environ
        config = cls()
        knobs_from_env(config, "SORA_SIM", env)
        if env.get("SORA_SIM_SEED"):
            config.seed = int(env["SORA_SIM_SEED"])
        if "SORA_SIM_API_KEY" in env:
            config.api_key = env["SORA_SIM_API_KEY"]
        return config


@dataclass
class SimVideo:
    id: str
    model: str
    prompt: str
    seconds: str
    size: str
    created: float  # simulator clock
    created_at: int  # epoch seconds
    fail: bool = False
    produced_seconds: str = ""
    remixed_from: str | None = None
    had_reference: bool = False


@dataclass
class _State:
    videos: dict[str, SimVideo] = field(default_factory=dict)
    creates: list[dict[str, Any]] = field(default_factory=list)
    content_downloads: int = 0
    offset: float = 0.0  # advance(): the simulator's clock ahead of the monotonic one


def _error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class SoraSimulator(SimulatorServer):
    """`with SoraSimulator() as sim: sim.url` - an HTTP server on a free port, in a daemon thread."""

    name = "sora-sim"
    config_type, state_type = SoraSimConfig, _State
    config: SoraSimConfig
    _state: _State

    def _bind_handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(_Handler, self)

    # ------------------------------------------------------------ protocol
    def create(self, body: dict[str, Any], *, remix_of: SimVideo | None = None) -> tuple[int, dict[str, Any]]:
        prompt = str(body.get("prompt") or "")
        with self._lock:
            self._state.creates.append(dict(body))
            if not prompt:
                return 400, _error("prompt is required")
            if "sim:reject" in prompt:
                return 400, _error("Your request was rejected by the safety system.", code="moderation_blocked")
            if self.config.submit_failure_rate and self._rng.random() < self.config.submit_failure_rate:
                status = self._rng.choice((429, 500))
                return status, _error("simulated failure", "server_error" if status == 500 else "rate_limit")
            self._counter += 1
            video = SimVideo(
                id=f"video_sim{self.port}{self._counter:06d}{self._rng.randrange(16**8):08x}",
                model=str((remix_of.model if remix_of else body.get("model")) or "sora-2"), prompt=prompt,
                seconds=str((remix_of.seconds if remix_of else body.get("seconds")) or "4"),
                size=str((remix_of.size if remix_of else body.get("size")) or "720x1280"),
                created=self._now(), created_at=int(time.time()),
                fail="sim:fail" in prompt or self._rng.random() < self.config.task_failure_rate,
                remixed_from=remix_of.id if remix_of else None,
                had_reference=bool(body.get("input_reference")) or bool(body.get("input_reference_bytes")))
            found = SECONDS.search(prompt)
            video.produced_seconds = found.group(1) if found else video.seconds
            self._state.videos[video.id] = video
            return 200, self.view(video)

    def view(self, video: SimVideo) -> dict[str, Any]:
        queued, running = self.config.step_seconds
        elapsed = self._now() - video.created
        status, progress = "queued", 0
        if elapsed >= queued + running:
            status, progress = ("failed" if video.fail else "completed"), 100
        elif elapsed >= queued:
            status, progress = "in_progress", min(99, int((elapsed - queued) / running * 100)) if running else 99
        done = status in ("completed", "failed")
        return {
            "id": video.id, "object": "video", "model": video.model, "status": status, "progress": progress,
            "created_at": video.created_at,
            "completed_at": video.created_at + int(queued + running) if done else None,
            "expires_at": video.created_at + 3600 if status == "completed" else None,
            "prompt": video.prompt, "seconds": video.produced_seconds if done else video.seconds,
            "size": video.size, "remixed_from_video_id": video.remixed_from,
            "error": {"code": "video_generation_failed", "message": "simulated generation failure"}
            if status == "failed" else None,
        }

    def get(self, video_id: str) -> SimVideo | None:
        with self._lock:
            return self._state.videos.get(video_id)

    def delete(self, video_id: str) -> bool:
        with self._lock:
            return self._state.videos.pop(video_id, None) is not None

    def asset_size(self, variant: str) -> int:
        return self.config.result_bytes if variant == "video" else THUMBNAIL_BYTES


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "input_reference" and part.get_filename() is not None:
            out["input_reference_bytes"] = len(payload)
        elif isinstance(name, str):
            out[name] = payload.decode("utf-8", "replace")
    return out


class _Handler(SimHandler):
    sim: SoraSimulator  # set by handler_for

    def _body(self) -> Any:
        raw, kind = self.read_raw(), self.headers.get("Content-Type", "")
        return _multipart(raw, kind) if kind.startswith("multipart/form-data") else self.read_json(raw)

    def _authorised(self) -> bool:
        key = self.sim.config.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            self.send_body(401, _error("Incorrect API key provided.", code="invalid_api_key"))
            return False
        return True

    def _route(self) -> tuple[list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return [p for p in parts.path.split("/") if p], parse_qs(parts.query)

    def _content(self, video_id: str, variant: str) -> None:
        if not self._authorised():
            return
        video = self.sim.get(video_id)
        if self.sim.config.content_expired:
            self.send_body(404, _error("Video content has expired.", code="video_expired"))
            return
        if video is None or self.sim.view(video)["status"] != "completed":
            self.send_body(404 if video is None else 400, _error("Video is not available."))
            return
        size = self.sim.asset_size(variant)
        self.send_asset(asset_bytes(video_id, variant, size), "video/mp4" if variant == "video" else "image/webp")
        with self.sim._lock:
            self.sim._state.content_downloads += 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts, params = self._route()
        if parts == ["health"]:
            self.send_body(200, {"status": "ok", "videos": len(self.sim._state.videos)})
            return
        if len(parts) == 4 and parts[:2] == ["v1", "videos"] and parts[3] == "content":
            self._content(parts[2], (params.get("variant") or ["video"])[0])
            return
        if not self._authorised():
            return
        self.delay(self.sim)
        if len(parts) == 3 and parts[:2] == ["v1", "videos"]:
            video = self.sim.get(parts[2])
            if video is None:
                self.send_body(404, _error(f"Video with id '{parts[2]}' not found."))
            else:
                self.send_body(200, self.sim.view(video))
            return
        self.send_body(404, _error(f"no route {self.path}"))

    def do_POST(self) -> None:  # noqa: N802
        parts, _ = self._route()
        body = self._body()
        if parts == ["sim", "config"]:
            self.answer_config(self.sim, body, _error)
            return
        if not self._authorised():
            return
        self.delay(self.sim)
        if not isinstance(body, dict):
            self.send_body(400, _error("body must be a JSON object or a form"))
            return
        if parts == ["v1", "videos"]:
            self.send_body(*self.sim.create(body))
            return
        if len(parts) == 4 and parts[:2] == ["v1", "videos"] and parts[3] == "remix":
            source = self.sim.get(parts[2])
            if source is None or self.sim.view(source)["status"] != "completed":
                self.send_body(404 if source is None else 400, _error("Only completed videos can be remixed."))
                return
            self.send_body(*self.sim.create(body, remix_of=source))
            return
        self.send_body(404, _error(f"no route {self.path}"))

    def do_DELETE(self) -> None:  # noqa: N802
        parts, _ = self._route()
        if not self._authorised():
            return
        if len(parts) == 3 and parts[:2] == ["v1", "videos"]:
            video = self.sim.get(parts[2])
            if video is None:
                self.send_body(404, _error(f"Video with id '{parts[2]}' not found."))
            elif self.sim.view(video)["status"] not in ("completed", "failed"):
                self.send_body(400, _error("Only completed or failed videos can be deleted."))
            else:
                self.sim.delete(parts[2])
                self.send_body(200, {"id": parts[2], "object": "video.deleted", "deleted": True})
            return
        self.send_body(404, _error(f"no route {self.path}"))

