"""End-to-end fixtures: the whole local stack (`python -m infra.local`) over HTTP.

    def test_something(local_stack):
        status, body = local_stack.get("/api/user/self", headers=local_stack.demo.dashboard_headers())

`local_stack` is session-scoped (one stack per pytest-xdist worker, on free ports, in its own state
directory) and yields a `RunningStack`: `api_url`, `moto_url`, `admin` and `demo` accounts (user id,
access token, API key), the seeded `channels`, the `components` that started ({name: url}), the stack's
`env` (table names, queue URLs, endpoints: point boto3 or the taskcenter package at it with
`local_stack.use_env(monkeypatch)`), and small HTTP helpers. docs/local-stack.md documents it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import Account

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


@dataclass
class RunningStack:
    api_url: str
    moto_url: str
    admin: Account
    demo: Account
    channels: list[dict[str, Any]]
    components: dict[str, str | None]
    env: dict[str, str]
    state_dir: Path
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: Any = None, timeout: float = 15.0) -> tuple[int, Any, dict[str, str]]:
        """(status, parsed JSON body or raw bytes, headers). HTTP errors are returned, not raised."""
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers={
            **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                status, raw, reply_headers = reply.status, reply.read(), dict(reply.headers)
        except urllib.error.HTTPError as error:
            status, raw, reply_headers = error.code, error.read(), dict(error.headers)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return status, parsed, reply_headers

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = self.request("GET", path, **kwargs)
        return status, body

    def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        status, reply, _ = self.request("POST", path, body=body, **kwargs)
        return status, reply

    def settle(self) -> dict[str, Any]:
        """Let the writes so far settle: the event runner reads the tasks and the ledger tables' streams to
        their ends (the listing totals and task events follow the first, the usage log's hour buckets the
        second: docs/listing.md "total", docs/usage-log.md "total"), as a reader who looks later. The tasks
        stream's figures."""
        drained = {}
        for consumer in ("StreamsLedgerStreamFunction", "StreamsTaskStreamFunction"):
            req = urllib.request.Request(f"{self.components['event-runner']}/drain/{consumer}", data=b"",
                                         method="POST")
            with urllib.request.urlopen(req, timeout=60) as reply:
                drained = json.loads(reply.read())
        return drained

    def use_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this test process (boto3, taskcenter models) at the stack's moto server and tables."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)


def _account(doc: dict[str, Any]) -> Account:
    return Account(doc["user_id"], doc["username"], doc["access_token"], doc["api_key"], doc["key_hash"])


def start_stack(state_dir: Path, *extra_args: str) -> tuple[subprocess.Popen, dict[str, Any]]:
    """Start `python -m infra.local` on free ports; wait (bounded) for its credentials file."""
    log = open(state_dir / "stack.out", "wb")  # noqa: SIM115 - closed when the process is reaped
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--moto-port", "0", "--api-port", "0", "--state-dir", str(state_dir),
         *extra_args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    creds_path = state_dir / "credentials.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if creds_path.exists():
            return proc, json.loads(creds_path.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.1)  # bounded wait for the stack to come up
    stop_stack(proc)
    output = (state_dir / "stack.out").read_text(errors="replace")[-4000:]
    pytest.fail(f"local stack did not start within {START_TIMEOUT_S:.0f}s (exit {proc.returncode}):\n{output}")


def stop_stack(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    state_dir = tmp_path_factory.mktemp("local-stack")
    proc, doc = start_stack(state_dir)
    try:
        yield RunningStack(api_url=doc["api_url"], moto_url=doc["moto_url"], admin=_account(doc["admin"]),
                           demo=_account(doc["demo"]), channels=doc["channels"], components=doc["components"],
                           env=doc["env"], state_dir=state_dir, raw=doc)
    finally:
        stop_stack(proc)
