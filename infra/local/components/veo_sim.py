"""Local stack component: the simulated Google Veo (Gemini API) upstream (infra/simulators/lro_video.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `gemini`
channel (key `sim-secret`). Its video downloads redirect to a second origin, the simulator's storage server
(its own port, also allowlisted; VEO_SIM_STORAGE_URL), which must never see the key. Settings (environment):
VEO_SIM_PORT, VEO_SIM_STEP_SECONDS ("queued,running", default "2,4"), VEO_SIM_LATENCY, VEO_SIM_SUBMIT_FAILURE_RATE,
VEO_SIM_TASK_FAILURE_RATE, VEO_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`,
`sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

import os
import urllib.request

from infra.local import simproc
from infra.local.context import ChannelSeed, StackContext, free_port
from infra.simulators.lro_video import VeoSimulator, VideoSimConfig

ORDER = 19  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    environ = dict(os.environ)
    environ.setdefault("VEO_SIM_STEP_SECONDS", "2,4")
    config = VideoSimConfig.from_env("VEO_SIM", environ)
    config.storage_port = free_port(ctx.host)  # known before the child starts: the allowlist needs it
    sim = simproc.spawn(ctx, VeoSimulator.name, VeoSimulator, config, port=int(os.environ.get("VEO_SIM_PORT") or 0))
    ctx.allow_host(ctx.host, sim.port)
    ctx.allow_host(ctx.host, config.storage_port)
    ctx.env["VEO_SIM_STORAGE_URL"] = f"http://{ctx.host}:{config.storage_port}"
    ctx.env["VEO_SIM_URL"] = sim.url
    ctx.channels.append(ChannelSeed("gemini", sim.url, name="veo-sim", secret=config.api_key))
    ctx.examples += [
        "curl -s -X POST {api}/v1/video/generations -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model\": \"veo-3.0-generate-001\", \"prompt\": \"a glacier\"}}'",
    ]
    ctx.checks.append(("veo simulator answers",
                       lambda: urllib.request.urlopen(f"{sim.url}/health", timeout=5).read()))
    return sim
