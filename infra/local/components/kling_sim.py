"""Local stack component: the simulated Kling upstream (infra/simulators/kling.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `kling`
channel (key `<access key>|<secret key>` of the simulator's config, as new-api stores Kling keys).
Settings (environment): KLING_SIM_PORT (default 0: a free port), KLING_SIM_STEP_SECONDS
("submitted,processing", default "2,4"), KLING_SIM_LATENCY, KLING_SIM_SUBMIT_FAILURE_RATE,
KLING_SIM_TASK_FAILURE_RATE, KLING_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`,
`sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

from infra.local import simproc
from infra.local.components._simulator import environ_with_steps, start_simulator
from infra.local.context import StackContext
from infra.simulators.kling import KlingSimConfig, KlingSimulator

ORDER = 17  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = KlingSimConfig.from_env(environ_with_steps("KLING_SIM"))
    return start_simulator(ctx, "KLING_SIM", KlingSimulator, config, platform="kling",
                           secret=f"{config.access_key}|{config.secret_key}", examples=[
        "curl -s -X POST {api}/kling/v1/videos/text2video -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model_name\": \"kling-v1\", \"prompt\": \"a red kite\"}}'",
        "curl -s {api}/kling/v1/videos/text2video/<task_id> -H 'Authorization: Bearer {demo_key}'",
    ])
