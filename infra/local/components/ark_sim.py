"""Local stack component: the simulated Doubao Seedance (Volcengine Ark) upstream (infra/simulators/lro_video.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `doubao`
channel (key `sim-secret`). Settings (environment): ARK_SIM_PORT, ARK_SIM_STEP_SECONDS ("queued,running",
default "2,4"), ARK_SIM_LATENCY, ARK_SIM_SUBMIT_FAILURE_RATE, ARK_SIM_TASK_FAILURE_RATE,
ARK_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`, `sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

import os
import urllib.request

from infra.local import simproc
from infra.local.context import ChannelSeed, StackContext
from infra.simulators.lro_video import ArkSimulator, VideoSimConfig

ORDER = 18  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    environ = dict(os.environ)
    environ.setdefault("ARK_SIM_STEP_SECONDS", "2,4")
    config = VideoSimConfig.from_env("ARK_SIM", environ)
    sim = simproc.spawn(ctx, ArkSimulator.name, ArkSimulator, config, port=int(os.environ.get("ARK_SIM_PORT") or 0))
    ctx.allow_host(ctx.host, sim.port)
    ctx.env["ARK_SIM_URL"] = sim.url
    ctx.channels.append(ChannelSeed("doubao", sim.url, name="ark-sim", secret=config.api_key))
    ctx.examples += [
        "curl -s -X POST {api}/v1/video/generations -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model\": \"doubao-seedance-1-0-pro\", \"prompt\": \"a ship\"}}'",
    ]
    ctx.checks.append(("ark simulator answers",
                       lambda: urllib.request.urlopen(f"{sim.url}/health", timeout=5).read()))
    return sim
