"""A simulated upstream in a child process of its own, so that the stack supervises it like any process: a
crash (or a `kill -9`) of one simulator is logged and the simulator started again on the same port
(infra/local/supervisor.py; docs/local-stack.md, "When a component crashes"). The simulator's own state
(its upstream tasks) starts empty after a restart, as an upstream that lost its work would.

    sim = simproc.spawn(ctx, "suno-sim", SunoSimulator, config)     # in a component's start(ctx)
    sim.url, sim.host, sim.port                                     # known before it answers

    python -m infra.local.simproc --simulator infra.simulators.suno:SunoSimulator \\
        --config-class infra.simulators.suno:SunoSimConfig --config '{"seed": 7}' --port 7001
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import signal
import sys
import threading
from typing import Any

from infra.local.context import ProcessComponent, StackContext, free_port


class SimulatorProcess(ProcessComponent):
    """A ProcessComponent that also says where the simulator listens (for channel seeds and the allowlist)."""

    def __init__(self, process: ProcessComponent, host: str, port: int) -> None:
        super().__init__(process.name, process.url, process.proc, respawn=process.respawn,
                         ready_url=process.ready_url, timeout=process.timeout)
        self.host, self.port = host, port


def _path(obj: type) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def spawn(ctx: StackContext, name: str, simulator: type, config: Any, *, port: int = 0,
          timeout: float = 20.0) -> SimulatorProcess:
    """Start `simulator(host, port, config)` in a child process; returns once its /health answers."""
    port = port or free_port(ctx.host)
    url = f"http://{ctx.host}:{port}"
    argv = [sys.executable, "-m", "infra.local.simproc", "--simulator", _path(simulator),
            "--config-class", _path(type(config)), "--config", json.dumps(dataclasses.asdict(config)),
            "--host", ctx.host, "--port", str(port)]
    return SimulatorProcess(ctx.spawn(name, argv, url=url, ready_url=f"{url}/health", timeout=timeout), ctx.host,
                            port)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulator", required=True, help="module:Class, called as Class(host, port, config)")
    parser.add_argument("--config-class", required=True, help="module:Dataclass of its settings")
    parser.add_argument("--config", default="{}", help="the settings as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = _load(args.config_class)(**json.loads(args.config))
    sim = _load(args.simulator)(args.host, args.port, config).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{args.simulator} on {sim.url}", flush=True)
    stop.wait()
    sim.stop()


if __name__ == "__main__":
    main()
