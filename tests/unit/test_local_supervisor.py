"""The local stack's supervisor (infra/local/supervisor.py; docs/local-stack.md, "When a component crashes"):
a crashed process is logged and restarted with backoff; the stack stops only if the moto server or the API
cannot be brought back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.local.context import ProcessComponent
from infra.local.supervisor import MAX_BACKOFF_S, MAX_FAILURES, STABLE_AFTER_S, Supervisor


class FakeProc:
    def __init__(self) -> None:
        self.returncode: int | None = None
        self.pid = 4242

    def poll(self) -> int | None:
        return self.returncode


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def component(name: str, *, comes_up: list[bool] | None = None) -> ProcessComponent:
    outcomes = iter(comes_up or [])

    def respawn() -> Any:
        if not next(outcomes, True):
            raise RuntimeError("did not come up")
        return FakeProc()

    return ProcessComponent(name, None, FakeProc(), respawn=respawn)  # type: ignore[arg-type]


def crash(c: ProcessComponent) -> None:
    c.proc.returncode = -9


def run(sup: Supervisor, clock: Clock, seconds: float) -> list[str | None]:
    reasons = []
    for _ in range(int(seconds)):
        clock.now += 1.0
        reasons.append(sup.tick())
    return reasons


def test_a_crashed_component_is_logged_and_restarted_with_a_growing_backoff(tmp_path: Path) -> None:
    clock, said = Clock(), []
    runner = component("event-runner")
    sup = Supervisor([runner], say=said.append, log_dir=tmp_path, clock=clock)
    sup.tick()
    crash(runner)
    assert sup.tick() is None and "event-runner exited unexpectedly (code -9); restarting in 1s" in said[-1]
    first = runner.proc
    run(sup, clock, 1)
    assert runner.proc is not first and runner.alive() and said[-1] == "event-runner restarted (restart 1)"
    crash(runner)  # again at once: it waits longer this time
    sup.tick()
    assert "restarting in 2s" in said[-1]
    run(sup, clock, 2)
    assert runner.alive() and said[-1].endswith("(restart 2)")
    run(sup, clock, STABLE_AFTER_S)  # up for a minute: the next crash starts from 1 s again
    crash(runner)
    sup.tick()
    assert "restarting in 1s" in said[-1]


def test_a_component_that_never_comes_back_is_given_up_and_the_stack_carries_on(tmp_path: Path) -> None:
    clock, said = Clock(), []
    sim = component("suno-sim", comes_up=[False] * MAX_FAILURES)
    sup = Supervisor([sim], say=said.append, log_dir=tmp_path, clock=clock)
    crash(sim)
    reasons = run(sup, clock, MAX_FAILURES * MAX_BACKOFF_S * 2)
    assert not any(reasons)
    assert said[-1] == "giving up on suno-sim; the rest of the stack carries on"
    assert sum("restarting suno-sim failed" in line for line in said) == MAX_FAILURES


def test_the_stack_stops_if_the_moto_server_cannot_be_brought_back(tmp_path: Path) -> None:
    clock, said = Clock(), []
    moto = component("moto", comes_up=[False] * MAX_FAILURES)
    sup = Supervisor([moto], say=said.append, log_dir=tmp_path, clock=clock)
    crash(moto)
    reasons = [r for r in run(sup, clock, MAX_FAILURES * MAX_BACKOFF_S * 2) if r]
    assert reasons == [f"moto did not come back after {MAX_FAILURES} restarts"]


def test_a_custom_restarter_runs_instead_and_parts_of_a_component_are_watched(tmp_path: Path) -> None:
    clock, said, restarted = Clock(), [], []
    part = component("tikmatrix-sim")

    class Parts:
        name, url, processes = "tikmatrix", None, (part,)

        def stop(self) -> None:
            return None

    sup = Supervisor([Parts()], say=said.append, log_dir=tmp_path, clock=clock,
                     restarters={"tikmatrix-sim": lambda c: restarted.append(c.name) or c.restart()})
    crash(part)
    run(sup, clock, 2)
    assert restarted == ["tikmatrix-sim"] and part.alive()
