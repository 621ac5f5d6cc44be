"""Supervision of the local stack's processes (docs/local-stack.md, "When a component crashes").

Every child process (the moto server, the API, the simulators, the event runner) is watched once a second.
One that exits is logged, with the end of its log, and started again on the same port with the same
arguments after a backoff (1 s, doubling to 30 s; back to 1 s once it has run for a minute). The stack keeps
serving meanwhile. A restarted moto server gets the resources of template.yaml and the last snapshot
(infra/local/snapshot.py) before anything else uses it. After MAX_FAILURES restarts in a row that did not come
up, a component is given up: the stack stops if it was the moto server or the API, and carries on otherwise.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.local.context import ProcessComponent

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0  # up this long: the next crash starts the backoff again from FIRST_BACKOFF_S
MAX_FAILURES = 10
ESSENTIAL = frozenset({"moto", "api"})

Restarter = Callable[[ProcessComponent], None]


@dataclass
class _Watch:
    backoff: float = FIRST_BACKOFF_S
    up_since: float = 0.0
    due: float | None = None  # when the next restart is due, while the component is down
    failures: int = 0  # restarts in a row that did not come up
    restarts: int = 0
    given_up: bool = False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in text[-lines:])


def processes(components: list[Any]) -> list[ProcessComponent]:
    """The child processes: components that are one, and those of a component's `processes` (several parts)."""
    found: list[ProcessComponent] = []
    for component in components:
        parts = [component] if isinstance(component, ProcessComponent) else getattr(component, "processes", ())
        found += [p for p in parts if isinstance(p, ProcessComponent)]
    return found


class Supervisor:
    def __init__(self, components: list[Any], *, say: Callable[[str], None], log_dir: Path,
                 restarters: dict[str, Restarter] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.components, self.say, self.log_dir, self.clock = components, say, log_dir, clock
        self.restarters = restarters or {}
        self.watches: dict[str, _Watch] = {}

    def _watch(self, component: ProcessComponent) -> _Watch:
        if component.name not in self.watches:
            self.watches[component.name] = _Watch(up_since=self.clock())
        return self.watches[component.name]

    def tick(self) -> str | None:
        """Check every process once; restart what is due. Returns why the stack must stop, or None."""
        now = self.clock()
        for component in processes(self.components):
            watch = self._watch(component)
            if watch.given_up:
                continue
            if component.alive():
                if watch.due is None and now - watch.up_since >= STABLE_AFTER_S:
                    watch.backoff = FIRST_BACKOFF_S
                continue
            if watch.due is None:
                code = component.proc.returncode
                log = self.log_dir / f"{component.name}.log"
                self.say(f"{component.name} exited unexpectedly (code {code}); restarting in {watch.backoff:.0f}s"
                         f" (log: {log})\n{log_tail(log)}".rstrip())
                watch.due = now + watch.backoff
                continue
            if now < watch.due:
                continue
            reason = self._restart(component, watch)
            if reason:
                return reason
        return None

    def _restart(self, component: ProcessComponent, watch: _Watch) -> str | None:
        try:
            self.restarters.get(component.name, ProcessComponent.restart)(component)
        except Exception:
            watch.failures += 1
            watch.backoff = min(watch.backoff * 2, MAX_BACKOFF_S)
            self.say(f"restarting {component.name} failed ({watch.failures} in a row):\n{traceback.format_exc()}")
            if watch.failures >= MAX_FAILURES:
                watch.given_up = True
                if component.name in ESSENTIAL:
                    return f"{component.name} did not come back after {watch.failures} restarts"
                self.say(f"giving up on {component.name}; the rest of the stack carries on")
                return None
            watch.due = self.clock() + watch.backoff
            return None
        watch.restarts += 1
        watch.failures, watch.due, watch.up_since = 0, None, self.clock()
        watch.backoff = min(watch.backoff * 2, MAX_BACKOFF_S)  # if it dies again soon, wait longer
        self.say(f"{component.name} restarted (restart {watch.restarts})")
        return None

    def run(self, stop: threading.Event, interval: float = 1.0) -> int:
        """Until `stop` is set (Ctrl-C, SIGTERM): 0; 1 if an essential component could not be brought back."""
        while not stop.wait(interval):
            reason = self.tick()
            if reason:
                self.say(f"{reason}; stopping (see {self.log_dir}/)")
                return 1
        return 0


def moto_restarter(stack: LocalStack, say: Callable[[str], None]) -> Restarter:
    """A fresh moto server is empty: create the template's resources and load the last snapshot into it, with
    the periodic snapshot held off until then (it would overwrite the last state with an empty one)."""
    from infra.local import snapshot

    def restart(component: ProcessComponent) -> None:
        assert stack.ctx is not None
        with stack.snapshots.paused() if stack.snapshots else contextlib.nullcontext():
            component.restart()
            stack._create_resources(stack.ctx.template)
            counts = snapshot.restore(stack.moto_url, stack.state_dir / snapshot.STATE_FILE) if stack.persist else None
            if counts is not None:
                say(f"moto server: last snapshot restored ({snapshot.describe(counts)})")

    return restart
