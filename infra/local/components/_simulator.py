"""What the simulated-upstream components share (docs/local-stack.md): spawn the simulator in a child process,
allowlist it, export its URL, seed its channel, add the example curls and the /health check.

A helper, not a component: the stack skips modules whose name starts with "_" (infra/local/stack.py).
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any

from infra.local import simproc
from infra.local.context import ChannelSeed, StackContext


def environ_with_steps(prefix: str, steps: str = "2,4") -> dict[str, str]:
    """The environment with `<prefix>_STEP_SECONDS` defaulting to `steps` (the stack's phases are slower than
    the tests')."""
    environ = dict(os.environ)
    environ.setdefault(f"{prefix}_STEP_SECONDS", steps)
    return environ


def start_simulator(ctx: StackContext, prefix: str, simulator: type, config: Any, *, platform: str, secret: str,
                    examples: list[str], models: tuple[str, ...] = ()) -> simproc.SimulatorProcess:
    """Spawn `simulator(host, <prefix>_PORT or a free port, config)` and register it as the `platform` channel;
    `<prefix>_URL` is its URL."""
    sim = simproc.spawn(ctx, simulator.name, simulator, config, port=int(os.environ.get(f"{prefix}_PORT") or 0))
    ctx.allow_host(ctx.host, sim.port)
    ctx.env[f"{prefix}_URL"] = sim.url
    ctx.channels.append(ChannelSeed(platform, sim.url, models=models, name=simulator.name, secret=secret))
    ctx.examples += examples
    ctx.checks.append((f"{simulator.name.removesuffix('-sim')} simulator answers",
                       lambda: urllib.request.urlopen(f"{sim.url}/health", timeout=5).read()))
    return sim
