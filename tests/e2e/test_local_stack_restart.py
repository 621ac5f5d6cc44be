"""The local stack survives a restart and a crashed component (issue 12 item 16; docs/local-stack.md,
"What survives a restart" and "When a component crashes").

One private stack: a user with a top-up, a key and a task; Ctrl-C (SIGINT); the same state directory started
again: the user, the balance, the key (it still authenticates), the task and the seeded credentials are all
there. Then a simulator, the event runner, the moto server and the API are killed (-9): each is logged and
comes back on its port (the moto server with the last snapshot), and the stack keeps serving.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _admin(state_dir: Path, op: str, **fields: Any) -> Any:
    """An admin operation on the stack of `state_dir`, through the CLI (a process of its own, its own env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "infra.admin_cli", op, "--state-dir", str(state_dir),
                           "--json", json.dumps(fields)], cwd=ROOT, env=env, capture_output=True, timeout=60)
    reply = json.loads(done.stdout)
    assert reply["ok"], reply
    return reply["result"]


def _call(api: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api + path, data=data, method=method,
                                     headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _interrupt(proc: subprocess.Popen) -> int | None:
    """Ctrl-C, as a developer stops `make local`."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return stop_stack(proc)


def _wait_until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (OSError, ValueError):  # not up yet: refused, reset, or not JSON
            pass
        time.sleep(0.2)  # bounded polling for a restarted process to answer
    return False


def _child(parent: int, marker: str) -> int | None:
    """The pid of the child process of `parent` whose command line contains `marker` (Linux /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and marker in cmdline:
            return int(stat.parent.name)
    return None


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2):
        return True


def test_state_survives_a_restart(tmp_path: Path) -> None:
    proc, first = start_stack(tmp_path)
    try:
        name = "keeper" + secrets.token_hex(3)
        user = _admin(tmp_path, "create_user", username=name, quota=0)
        _admin(tmp_path, "top_up", user_id=user["id"], amount=2_000_000, note="before the restart")
        key = _admin(tmp_path, "issue_key", user_id=user["id"], name="kept")["token"]
        access = _admin(tmp_path, "issue_access_token", user_id=user["id"])["token"]
        relay = {"Authorization": f"Bearer {key}"}
        dashboard = {"Authorization": f"Bearer {access}", "New-Api-User": str(user["id"])}
        status, body = _call(first["api_url"], "POST", "/suno/submit/music", relay, {"prompt": "kept across"})
        assert status == 200 and body["code"] == "success", body
        task_id = body["data"]
        status, before = _call(first["api_url"], "GET", "/api/user/self", dashboard)
        assert status == 200 and before["data"]["quota"] == 2_000_000 - 50_000, before
    finally:
        code = _interrupt(proc)
    assert code == 0, (tmp_path / "stack.out").read_text()[-3000:]
    assert not (tmp_path / "credentials.json").exists()  # "up" no more; the state is kept beside it

    proc, second = start_stack(tmp_path)
    try:
        api = second["api_url"]
        for account in ("admin", "demo"):  # the same credentials printed as before the restart
            assert second[account] == first[account]
        assert [c["id"] for c in second["channels"]] == [c["id"] for c in first["channels"]]
        status, after = _call(api, "GET", "/api/user/self", dashboard)
        assert status == 200 and after["data"]["quota"] == before["data"]["quota"], after
        status, body = _call(api, "GET", f"/suno/fetch/{task_id}", relay)  # the key still authenticates
        assert status == 200 and body["data"]["task_id"] == task_id, body
        assert "state restored" in (tmp_path / "stack.out").read_text()
        # the restored channel (its new simulator port, its secret) still serves a new task
        status, body = _call(api, "POST", "/suno/submit/music", relay, {"prompt": "after the restart"})
        assert status == 200 and body["code"] == "success", body
        demo = {"Authorization": f"Bearer {second['demo']['access_token']}",
                "New-Api-User": str(second["demo"]["user_id"])}
        status, body = _call(api, "GET", "/api/user/self", demo)
        assert status == 200 and body["data"]["username"] == "demo", body

    finally:
        _interrupt(proc)


def test_crashed_components_are_restarted_and_the_stack_keeps_serving(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed (-9): the event runner and a simulator, then the moto server and the API. Each is logged and
    restarted on its port; the moto server gets the last snapshot back; the stack keeps serving."""
    monkeypatch.setenv("LOCAL_SNAPSHOT_SECONDS", "1")  # the task below is in a snapshot before moto is killed
    proc, doc = start_stack(tmp_path)
    try:
        api, components = doc["api_url"], doc["components"]
        demo = doc["demo"]
        relay = {"Authorization": f"Bearer {demo['api_key']}"}
        dashboard = {"Authorization": f"Bearer {demo['access_token']}", "New-Api-User": str(demo["user_id"])}
        status, body = _call(api, "POST", "/suno/submit/music", relay, {"prompt": "before the crash"})
        assert status == 200 and body["code"] == "success", body
        task_id = body["data"]
        for name, marker in (("event-runner", "infra.local.runner"), ("suno-sim", "SunoSimulator")):
            pid = _child(proc.pid, marker)
            assert pid, f"no {name} process of its own"
            os.kill(pid, signal.SIGKILL)
            assert _wait_until(lambda name=name: _answers(components[name] + "/health"), timeout=60), name
            assert proc.poll() is None, (tmp_path / "stack.out").read_text()[-3000:]
        status, body = _call(api, "POST", "/suno/submit/music", relay, {"prompt": "after the crash"})
        assert status == 200 and body["code"] == "success", body
        assert _wait_until(lambda: task_id in (tmp_path / "state.json").read_text(), timeout=30)
        for marker in ("infra.local.moto_main", "infra.local.api_server"):
            pid = _child(proc.pid, marker)
            assert pid, f"no {marker} process"
            os.kill(pid, signal.SIGKILL)
            assert _wait_until(lambda: _call(api, "GET", "/api/user/self", dashboard)[0] == 200, timeout=60)
        assert proc.poll() is None
        out = (tmp_path / "stack.out").read_text()
        for name in ("suno-sim", "event-runner", "moto", "api"):
            assert f"{name} exited unexpectedly" in out and f"{name} restarted" in out, out[-3000:]
        status, body = _call(api, "GET", f"/suno/fetch/{task_id}", relay)
        assert status == 200 and body["data"]["task_id"] == task_id, body
    finally:
        _interrupt(proc)
