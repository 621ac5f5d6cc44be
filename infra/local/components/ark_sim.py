"""Local stack component: the simulated Doubao Seedance (Volcengine Ark) upstream (infra/simulators/lro_video.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `doubao`
channel (key `sim-secret`). Settings (environment): ARK_SIM_PORT, ARK_SIM_STEP_SECONDS ("queued,running",
default "2,4"), ARK_SIM_LATENCY, ARK_SIM_SUBMIT_FAILURE_RATE, ARK_SIM_TASK_FAILURE_RATE,
ARK_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`, `sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

from infra.local import simproc
from infra.local.components._simulator import environ_with_steps, start_simulator
from infra.local.context import StackContext
from infra.simulators.lro_video import ArkSimulator, VideoSimConfig

ORDER = 18  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = VideoSimConfig.from_env("ARK_SIM", environ_with_steps("ARK_SIM"))
    return start_simulator(ctx, "ARK_SIM", ArkSimulator, config, platform="doubao", secret=config.api_key, examples=[
        "curl -s -X POST {api}/v1/video/generations -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model\": \"doubao-seedance-1-0-pro\", \"prompt\": \"a ship\"}}'",
    ])
