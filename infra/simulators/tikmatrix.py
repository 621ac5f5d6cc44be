"""A simulated TikMatrix host for tests and the local stack (standard library only).

It speaks the host's own task API (tikmatrix-task-api.md), the protocol `providers/tikmatrix.py` uses:
`POST /api/v1/task` (serials or usernames, script_name, script_config), `GET /api/v1/task` (filters
status/serial/script_name, page/page_size, and `task_ids=1,2,3` for batch status), `GET /api/v1/task/{id}`,
`DELETE /api/v1/task/{id}`, `POST /api/v1/task/{id}/stop`, `GET /api/v1/task/stats`,
`GET /api/v1/license/check`. Envelope `{"code": 0, "message": "success", "data": ...}`; statuses
0 pending, 1 running, 2 completed, 3 failed. Tasks move with time: pending for `pending_seconds`, running
for `run_seconds`, then completed (or failed, at `fail_rate`, seeded).

Every submission is checked against the documented vocabulary (DOCUMENTED): follow/unfollow/comment
without their documented targets are refused (40001), and each task records the fields it was sent under
`sim` (`body_fields`, `undocumented`) in its view, so tests can see what reached the host.

Markers in any string of a script_config make tests deterministic:

    sim:fail     the task ends failed ("simulated failure")
    sim:hold     the task keeps running until stopped
    sim:busy     submit answers HTTP 503
    sim:refuse   submit answers code 40001

`SimConfig`: pending_seconds, run_seconds, fail_rate, submit_error_rate, secret (Bearer, optional),
devices (when set, other serials are refused with 40001), ignore_task_ids (a host without the batch
filter), seed. `POST /sim/config` changes them at run
time; `GET /health` answers ok. `submissions` and `stops` record what the host was asked (for tests).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.simulators import QuietJsonHandler

SCRIPTS = ("post", "follow", "unfollow", "comment", "account_warmup", "login", "profile", "match_accounts")
# The documented script_config keys (tikmatrix-scripts.md §3; post also the desktop UI's extras). A submission
# records the keys outside these as `undocumented` (tests assert there are none for documented examples), and
# follow/unfollow/comment without their documented targets are refused with 40001, as the host does.
_POST_UI = ("ai_label", "caption_format", "insert_emoji", "comment_on_own_post", "own_post_comment",
            "generate_by_chatgpt", "chatgpt_settings", "rotate_proxy")
DOCUMENTED: dict[str, frozenset[str]] = {
    "post": frozenset({"content_type", "image_count", "captions", "post_way", "material_source", "material_path",
                       "material_list", "materials_tags", "upload_wait_time", "sound_wait_time", "add_sound",
                       "sound_name", "custom_sound_keyword", "origin_sound_volume", "add_sound_volume",
                       "add_product_link", "placement", *_POST_UI}),
    "follow": frozenset({"target_users", "target_user", "access_method"}),
    "unfollow": frozenset({"target_users", "target_user", "access_method"}),
    "comment": frozenset({"target_post_urls", "target_post_url", "comment_content", "comment_order", "insert_emoji",
                          "comment_image_path"}),
    "account_warmup": frozenset({"task_duration", "topic", "min_duration", "max_duration", "like_probable",
                                 "floow_probable", "collect_probable", "comment_probable", "comment", "insert_emoji",
                                 "comment_order", "generate_by_chatgpt", "chatgpt_settings"}),
    "login": frozenset(),
    "profile": frozenset({"profile_order", "nicknames", "usernames", "bios", "link_url", "avatars_path"}),
    "match_accounts": frozenset(),
}
TOP_LEVEL = frozenset({"serials", "usernames", "script_name", "script_config", "enable_multi_account", "start_time",
                       "min_interval", "max_interval"})


def undocumented(body: dict[str, Any]) -> list[str]:
    """Keys of a create body (top level, and script_config) the TikMatrix documentation does not list."""
    config = body.get("script_config") if isinstance(body.get("script_config"), dict) else {}
    known = DOCUMENTED.get(str(body.get("script_name")), frozenset())
    return sorted([k for k in body if k not in TOP_LEVEL] + [f"script_config.{k}" for k in config if k not in known])


def _missing_target(script: str, config: dict[str, Any]) -> str:
    if script in ("follow", "unfollow") and not (config.get("target_users") or config.get("target_user")):
        return "Missing target user"
    if script == "comment" and not ((config.get("target_post_urls") or config.get("target_post_url"))
                                    and config.get("comment_content")):
        return "Missing target post URL or comment content"
    return ""


@dataclass
class SimConfig:
    pending_seconds: float = 0.2
    run_seconds: float = 2.0
    fail_rate: float = 0.0
    submit_error_rate: float = 0.0
    secret: str = ""
    devices: tuple[str, ...] = ()
    ignore_task_ids: bool = False  # behave like a host without the batch-status filter
    seed: int = 7


@dataclass
class SimTask:
    id: int
    serial: str
    username: str
    script_name: str
    script_config: dict[str, Any]
    created: float
    fails: bool = False
    hold: bool = False
    stopped_at: float | None = None
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class TikMatrixSimulator:
    name = "tikmatrix-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.rng = random.Random(self.config.seed)
        self.lock = threading.Lock()
        self.tasks: dict[int, SimTask] = {}
        self.next_id = 1
        self.submissions: list[dict[str, Any]] = []
        self.stops: list[int] = []
        self.fetches = 0
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[0], int(self.server.server_address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="tikmatrix-sim", daemon=True)

    def start(self) -> TikMatrixSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> TikMatrixSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                if key == "devices":
                    value = tuple(value)
                setattr(self.config, key, value)
            if "seed" in changes:
                self.rng = random.Random(self.config.seed)

    def finish_all(self) -> None:
        """Every task done now (held ones included), as if their time had passed."""
        with self.lock:
            for task in self.tasks.values():
                task.created -= 10_000
                task.hold = False

    # ------------------------------------------------------------ state
    def status_of(self, task: SimTask, now: float | None = None) -> tuple[int, str]:
        now = time.monotonic() if now is None else now
        if task.stopped_at is not None:
            return 3, "stopped"
        age = now - task.created
        if age < self.config.pending_seconds:
            return 0, ""
        if task.hold or age < self.config.pending_seconds + self.config.run_seconds:
            return 1, ""
        return (3, "simulated failure") if task.fails else (2, "")

    def view(self, task: SimTask) -> dict[str, Any]:
        status, error = self.status_of(task)
        done = task.created + self.config.pending_seconds + self.config.run_seconds
        return {"id": task.id, "serial": task.serial, "username": task.username, "script_name": task.script_name,
                "script_config": task.script_config, "status": status, "source": "api", "error": error,
                "remark": error, "retry_count": 0, "sim": task.extra,
                "result": {"ok": True, "device": task.serial or task.username} if status == 2 else None,
                "created_at": round(task.created, 3), "finished_at": round(done, 3) if status >= 2 else None}

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        script, config = body.get("script_name"), body.get("script_config")
        if not script:
            return 400, _err(40002, "script_name is required")
        if script not in SCRIPTS:
            return 400, _err(40003, f"script {script!r} is not supported")
        if not isinstance(config, dict):
            return 400, _err(40001, "script_config must be an object")
        serials, usernames = body.get("serials") or [], body.get("usernames") or []
        if not serials and not usernames:
            return 400, _err(40001, "serials or usernames is required")
        missing = _missing_target(script, config)
        if missing:
            return 400, _err(40001, missing)
        marks = " ".join(_strings(config))
        if "sim:busy" in marks:
            return 503, _err(50001, "host busy")
        if "sim:refuse" in marks:
            return 400, _err(40001, "refused by the simulated host")
        with self.lock:
            if self.config.submit_error_rate and self.rng.random() < self.config.submit_error_rate:
                return 503, _err(50001, "simulated host error")
            if self.config.devices and any(s not in self.config.devices for s in serials):
                return 400, _err(40001, "unknown device serial")
            ids = []
            for serial, username in [(s, "") for s in serials] + [("", u) for u in usernames]:
                fails = "sim:fail" in marks or (self.config.fail_rate > 0 and self.rng.random() < self.config.fail_rate)
                task = SimTask(self.next_id, serial, username, script, config, time.monotonic(), fails=fails,
                               hold="sim:hold" in marks,
                               extra={"body_fields": sorted(body), "undocumented": undocumented(body),
                                      **{k: body[k] for k in ("enable_multi_account", "min_interval",
                                                              "max_interval") if k in body}})
                self.tasks[task.id] = task
                ids.append(task.id)
                self.next_id += 1
            self.submissions.append(dict(body))
        return 200, _ok({"task_ids": ids, "created_count": len(ids)})

    def list(self, params: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.fetches += 1
            rows = [t for t in self.tasks.values() if not t.deleted]
        if params.get("task_ids") and not self.config.ignore_task_ids:
            wanted = {int(x) for x in params["task_ids"].split(",") if x.strip().isdigit()}
            rows = [t for t in rows if t.id in wanted]
        views = [self.view(t) for t in sorted(rows, key=lambda t: -t.id)]
        for key in ("serial", "script_name"):
            if params.get(key):
                views = [v for v in views if v[key] == params[key]]
        if params.get("status", "").isdigit():
            views = [v for v in views if v["status"] == int(params["status"])]
        page = max(1, int(params.get("page") or 1))
        size = min(100, max(1, int(params.get("page_size") or 20)))
        return _ok({"tasks": views[(page - 1) * size: page * size], "total": len(views), "page": page,
                    "page_size": size})

    def get(self, task_id: int) -> SimTask | None:
        with self.lock:
            task = self.tasks.get(task_id)
        return task if task is not None and not task.deleted else None

    def stop_task(self, task_id: int) -> tuple[int, dict[str, Any]]:
        task = self.get(task_id)
        if task is None:
            return 404, _err(40401, "task not found")
        status, _ = self.status_of(task)
        if status >= 2:
            return 400, _err(40001, "task already finished")
        with self.lock:
            task.stopped_at = time.monotonic()
            self.stops.append(task_id)
        return 200, _ok(self.view(task))

    def stats(self) -> dict[str, Any]:
        counts = [0, 0, 0, 0]
        with self.lock:
            rows = [t for t in self.tasks.values() if not t.deleted]
        for task in rows:
            counts[self.status_of(task)[0]] += 1
        return _ok({"total": len(rows), "pending": counts[0], "running": counts[1], "completed": counts[2],
                    "failed": counts[3]})


def _ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "message": "success", "data": data}


def _err(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": None}


def _handler_for(sim: TikMatrixSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietJsonHandler):
        def _reply(self, status: int, body: Any) -> None:
            self.send_body(status, body)

        def _body(self) -> Any:
            raw = self._raw
            try:
                return json.loads(raw) if raw.strip() else {}
            except ValueError:
                return None

        def _authorised(self) -> bool:
            if not sim.config.secret:
                return True
            if self.headers.get("Authorization", "") == f"Bearer {sim.config.secret}":
                return True
            self._reply(401, _err(40101, "bad host secret"))
            return False

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._raw = self.rfile.read(length) if length else b""  # always consumed: keep-alive stays in sync
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/")
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if path == "/health":
                return self._reply(200, {"ok": True})
            if path == "/sim/config" and method == "POST":
                body = self._body() or {}
                sim.configure(**{k: v for k, v in body.items() if k in asdict(sim.config)})
                return self._reply(200, _ok(asdict(sim.config)))
            if not self._authorised():
                return None
            segments = path.split("/")[1:]  # api, v1, task, ...
            if segments[:2] == ["api", "v1"] and segments[2:] == ["license", "check"]:
                return self._reply(200, _ok({"plan_name": "Business", "api_enabled": True, "device_limit": 100,
                                             "message": "simulated host"}))
            if segments[:3] != ["api", "v1", "task"]:
                return self._reply(404, _err(40401, "no such route"))
            rest = segments[3:]
            if not rest and method == "POST":
                body = self._body()
                if not isinstance(body, dict):
                    return self._reply(400, _err(40001, "bad JSON"))
                return self._reply(*sim.create(body))
            if not rest and method == "GET":
                return self._reply(200, sim.list(params))
            if rest == ["stats"] and method == "GET":
                return self._reply(200, sim.stats())
            if not rest[0].isdigit():
                return self._reply(404, _err(40401, "no such route"))
            task_id = int(rest[0])
            if len(rest) == 2 and rest[1] == "stop" and method == "POST":
                return self._reply(*sim.stop_task(task_id))
            task = sim.get(task_id)
            if task is None:
                return self._reply(404, _err(40401, "task not found"))
            if len(rest) == 1 and method == "GET":
                return self._reply(200, _ok(sim.view(task)))
            if len(rest) == 1 and method == "DELETE":
                task.deleted = True
                return self._reply(200, _ok({"task_id": task_id}))
            return self._reply(404, _err(40401, "no such route"))

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._route("DELETE")

    return Handler


def main() -> None:  # pragma: no cover - manual use: python -m infra.simulators.tikmatrix [port]
    import sys

    sim = TikMatrixSimulator(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(sim.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
