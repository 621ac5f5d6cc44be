"""Local stack component: the simulated Suno API upstream (infra/simulators/suno.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the default
`suno` channel (bearer key `sim-secret`, models suno_music and suno_lyrics).
Settings (environment): SUNO_SIM_PORT (default 0: a
free port), SUNO_SIM_STEP_SECONDS (time in SUBMITTED, QUEUED, IN_PROGRESS: one value or three, default
"2,2,4": a song is done about 8 s after submission upstream), SUNO_SIM_LATENCY,
SUNO_SIM_SUBMIT_FAILURE_RATE (answers 429/500), SUNO_SIM_TASK_FAILURE_RATE, SUNO_SIM_FORGET_RATE,
SUNO_SIM_SEED. Prompts containing `sim:fail`, `sim:vanish` or `sim:reject` force those outcomes;
`POST <sim>/sim/config` changes the settings while it runs.
"""

from __future__ import annotations

from infra.local import simproc
from infra.local.components._simulator import environ_with_steps, start_simulator
from infra.local.context import StackContext
from infra.simulators.suno import SunoSimConfig, SunoSimulator

ORDER = 10  # a simulator: before the API

SECRET = "sim-secret"


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = SunoSimConfig.from_env(environ_with_steps("SUNO_SIM", "2,2,4"))
    config.api_key = SECRET
    return start_simulator(ctx, "SUNO_SIM", SunoSimulator, config, platform="suno", secret=SECRET,
                           models=("suno_music", "suno_lyrics"), examples=[
        "curl -s -X POST {api}/suno/submit/music -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"prompt\": \"a calm song about the sea\", \"tags\": \"ambient\"}}'",
        "curl -s {api}/suno/fetch/<data from the submit> -H 'Authorization: Bearer {demo_key}'",
        "curl -s -X POST {api}/suno/fetch -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"ids\": [\"<task id>\"]}}'",
        "curl -s '{api}/api/task/self?p=1&page_size=20&platform=suno' -H 'Authorization: Bearer {demo_token}' "
        "-H 'New-Api-User: {demo_user_id}'",
        "curl -s '{api}/api/task/?p=1&page_size=20' -H 'Authorization: Bearer {admin_token}' "
        "-H 'New-Api-User: {admin_user_id}'",
    ])
