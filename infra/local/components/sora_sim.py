"""Local stack component: the simulated OpenAI Videos API (Sora) upstream (infra/simulators/sora.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `sora`
channel (bearer key `sim-secret`, all models). Settings (environment): SORA_SIM_PORT (default 0: a free
port), SORA_SIM_STEP_SECONDS ("queued,in_progress", default "2,4"), SORA_SIM_LATENCY,
SORA_SIM_SUBMIT_FAILURE_RATE (429/500), SORA_SIM_TASK_FAILURE_RATE, SORA_SIM_RESULT_BYTES (default 3 MB),
SORA_SIM_SEED. Prompts with `sim:fail`, `sim:reject`, `sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

from infra.local import simproc
from infra.local.components._simulator import environ_with_steps, start_simulator
from infra.local.context import StackContext
from infra.simulators.sora import SoraSimConfig, SoraSimulator

ORDER = 16  # a simulator: before the API

SECRET = "sim-secret"


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = SoraSimConfig.from_env(environ_with_steps("SORA_SIM"))
    config.api_key = SECRET
    return start_simulator(ctx, "SORA_SIM", SoraSimulator, config, platform="sora", secret=SECRET, examples=[
        "curl -s -X POST {api}/v1/videos -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"prompt\": \"a paper boat on a river\", \"seconds\": \"4\"}}'",
        "curl -s {api}/v1/videos/<id> -H 'Authorization: Bearer {demo_key}'",
        "curl -sL -o video.mp4 {api}/v1/videos/<id>/content -H 'Authorization: Bearer {demo_key}'",
    ])
