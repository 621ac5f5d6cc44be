"""Local stack component: the simulated Google Veo (Gemini API) upstream (infra/simulators/lro_video.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `gemini`
channel (key `sim-secret`). Its video downloads redirect to a second origin, the simulator's storage server
(its own port, also allowlisted; VEO_SIM_STORAGE_URL), which must never see the key. Settings (environment):
VEO_SIM_PORT, VEO_SIM_STEP_SECONDS ("queued,running", default "2,4"), VEO_SIM_LATENCY, VEO_SIM_SUBMIT_FAILURE_RATE,
VEO_SIM_TASK_FAILURE_RATE, VEO_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`,
`sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

from infra.local import simproc
from infra.local.components._simulator import environ_with_steps, start_simulator
from infra.local.context import StackContext, free_port
from infra.simulators.lro_video import VeoSimulator, VideoSimConfig

ORDER = 19  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = VideoSimConfig.from_env("VEO_SIM", environ_with_steps("VEO_SIM"))
    config.storage_port = free_port(ctx.host)  # known before the child starts: the allowlist needs it
    sim = start_simulator(ctx, "VEO_SIM", VeoSimulator, config, platform="gemini", secret=config.api_key, examples=[
        "curl -s -X POST {api}/v1/video/generations -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model\": \"veo-3.0-generate-001\", \"prompt\": \"a glacier\"}}'",
    ])
    ctx.allow_host(ctx.host, config.storage_port)
    ctx.env["VEO_SIM_STORAGE_URL"] = f"http://{ctx.host}:{config.storage_port}"
    return sim
