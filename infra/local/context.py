"""The contract between the local stack and its plug-in components (docs/local-stack.md).

A component is a module in `infra/local/components/` with

    ORDER: int                              # < 50 starts before the API (simulators), >= 50 after (runner)
    def start(ctx: StackContext) -> Component | None

`start` may add environment variables (`ctx.env`, `ctx.allow_host`), channel seeds (`ctx.channels`),
curl examples (`ctx.examples`) and smoke checks (`ctx.checks`). A component it returns has `.name`,
`.url` (or None) and `.stop()`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra.local.cfn import QueueInfo

HOST = "127.0.0.1"
API_ORDER = 50  # the built-in API component's place in the start order


class Component(Protocol):
    name: str
    url: str | None

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ChannelSeed:
    """A channel the stack registers (through the admin operations) before the API starts."""

    type: str  # suno | midjourney | tikmatrix
    base_url: str
    models: tuple[str, ...] = ()
    name: str = ""
    secret: str = "sim-secret"
    priority: int = 0
    weight: int = 1
    devices: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


@dataclass
class StackContext:
    """Everything a component may read or extend. Endpoints are known before any component starts."""

    root: Path  # repository root
    state_dir: Path  # .local (logs/, credentials.json)
    moto_url: str
    api_url: str
    env: dict[str, str]  # the environment of the API and the workers; the stack process runs with it too
    template: dict[str, Any]  # parsed template.yaml (CloudFormation long forms)
    tables: dict[str, str]  # logical id -> physical table name
    queues: dict[str, QueueInfo]  # logical id -> queue (url, arn, dead-letter queue)
    channels: list[ChannelSeed] = field(default_factory=list)
    # curl lines printed after seeding; placeholders {api}, {demo_user_id}, {demo_token}, {demo_key},
    # {admin_user_id}, {admin_token}, {admin_key} are filled in
    examples: list[str] = field(default_factory=list)
    checks: list[tuple[str, Callable[[], None]]] = field(default_factory=list)  # --check runs them; raise = fail
    credentials: dict[str, Any] = field(default_factory=dict)  # filled by seeding (before ORDER >= 50 start)
    verbose: bool = False

    @property
    def host(self) -> str:
        return HOST

    def allow_host(self, host: str, port: int) -> None:
        """Let the API and workers reach a simulator on a private address (PRIVATE_HOST_ALLOWLIST)."""
        entries = [e for e in self.env.get("PRIVATE_HOST_ALLOWLIST", "").split(",") if e]
        entry = f"{host}:{port}"
        if entry not in entries:
            entries.append(entry)
        self.env["PRIVATE_HOST_ALLOWLIST"] = ",".join(entries)
        os.environ["PRIVATE_HOST_ALLOWLIST"] = self.env["PRIVATE_HOST_ALLOWLIST"]

    def log_path(self, name: str) -> Path:
        path = self.state_dir / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def spawn(self, name: str, argv: list[str], *, url: str | None = None, ready_url: str | None = None,
              env: dict[str, str] | None = None, timeout: float = 20.0) -> ProcessComponent:
        """Start a child process with the stack's environment; wait for `ready_url` to answer HTTP."""
        child_env = {**os.environ, **self.env, **(env or {})}
        log = None if self.verbose else self.log_path(name)

        def respawn() -> subprocess.Popen:  # the supervisor restarts a crashed child the same way
            return spawn_process(argv, cwd=self.root, env=child_env, log=log)

        component = ProcessComponent(name, url, respawn(), respawn=respawn, ready_url=ready_url, timeout=timeout)
        if ready_url:
            try:
                wait_http(ready_url, timeout=timeout, proc=component.proc)
            except Exception:
                component.stop()
                raise
        return component


class ProcessComponent:
    def __init__(self, name: str, url: str | None, proc: subprocess.Popen, *,
                 respawn: Callable[[], subprocess.Popen] | None = None, ready_url: str | None = None,
                 timeout: float = 20.0) -> None:
        self.name, self.url, self.proc = name, url, proc
        self.respawn, self.ready_url, self.timeout = respawn, ready_url, timeout

    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def restart(self) -> None:
        """Start the process again with the same arguments (infra/local/supervisor.py); wait for `ready_url`."""
        if self.respawn is None:
            raise RuntimeError(f"{self.name} cannot be restarted")
        self.stop()
        self.proc = self.respawn()
        if self.ready_url:
            wait_http(self.ready_url, timeout=self.timeout, proc=self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: children get SIGTERM if the stack process dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn_process(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path | None) -> subprocess.Popen:
    out = open(log, "ab") if log else None  # noqa: SIM115 - owned by the child for its lifetime
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if out else None, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    finally:
        if out:
            out.close()


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, *, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Poll until `url` answers with any HTTP status; bounded by `timeout` (and by the process dying)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError as error:
            last = error
        time.sleep(0.1)  # local tooling, not production code: a bounded wait for a server to come up
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")
