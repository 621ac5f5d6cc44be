"""Local stack component: the simulated Kling upstream (infra/simulators/kling.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes) and is seeded as the `kling`
channel (key `<access key>|<secret key>` of the simulator's config, as new-api stores Kling keys).
Settings (environment): KLING_SIM_PORT (default 0: a free port), KLING_SIM_STEP_SECONDS
("submitted,processing", default "2,4"), KLING_SIM_LATENCY, KLING_SIM_SUBMIT_FAILURE_RATE,
KLING_SIM_TASK_FAILURE_RATE, KLING_SIM_RESULT_BYTES (default 2 MB). Prompts with `sim:fail`, `sim:reject`,
`sim:seconds=N` force those outcomes.
"""

from __future__ import annotations

import os
import urllib.request

from infra.local import simproc
from infra.local.context import ChannelSeed, StackContext
from infra.simulators.kling import KlingSimConfig, KlingSimulator

ORDER = 17  # a simulator: before the API


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    environ = dict(os.environ)
    environ.setdefault("KLING_SIM_STEP_SECONDS", "2,4")
    config = KlingSimConfig.from_env(environ)
    sim = simproc.spawn(ctx, KlingSimulator.name, KlingSimulator, config,
                        port=int(os.environ.get("KLING_SIM_PORT") or 0))
    ctx.allow_host(ctx.host, sim.port)
    ctx.env["KLING_SIM_URL"] = sim.url
    ctx.channels.append(ChannelSeed("kling", sim.url, name="kling-sim",
                                    secret=f"{config.access_key}|{config.secret_key}"))
    ctx.examples += [
        "curl -s -X POST {api}/kling/v1/videos/text2video -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"model_name\": \"kling-v1\", \"prompt\": \"a red kite\"}}'",
        "curl -s {api}/kling/v1/videos/text2video/<task_id> -H 'Authorization: Bearer {demo_key}'",
    ]
    ctx.checks.append(("kling simulator answers",
                       lambda: urllib.request.urlopen(f"{sim.url}/health", timeout=5).read()))
    return sim
