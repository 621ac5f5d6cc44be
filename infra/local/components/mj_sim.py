"""Local stack component: the simulated midjourney-proxy upstream (infra/simulators/midjourney.py).

It runs in a child process (infra/local/simproc.py: restarted if it crashes); one `midjourney` channel is
seeded for it (mj-api-secret `sim-secret`).
Settings: MJ_SIM_STEP_SECONDS (time per progress step, default 2: an imagine reaches
SUCCESS in about 8 s upstream), MJ_SIM_FAIL_RATE, MJ_SIM_SUBMIT_ERROR_RATE (HTTP 503),
MJ_SIM_LATENCY_SECONDS, MJ_SIM_SEED.
Per-prompt switches (`sim:fail`, `sim:vanish`, `sim:banned`, `sim:queued`, `sim:busy`) are in the
simulator's module doc; `POST <sim>/sim/config` changes the settings while it runs.
"""

from __future__ import annotations

import os
import urllib.request

from infra.local import simproc
from infra.local.context import ChannelSeed, StackContext
from infra.simulators.midjourney import MidjourneySimulator, SimConfig

ORDER = 15  # a simulator: before the API


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def start(ctx: StackContext) -> simproc.SimulatorProcess:
    config = SimConfig(
        step_seconds=_float("MJ_SIM_STEP_SECONDS", 2.0),
        fail_rate=_float("MJ_SIM_FAIL_RATE", 0.0),
        submit_error_rate=_float("MJ_SIM_SUBMIT_ERROR_RATE", 0.0),
        latency_seconds=_float("MJ_SIM_LATENCY_SECONDS", 0.0),
        seed=int(_float("MJ_SIM_SEED", 7)),
        secret="sim-secret",
    )
    sim = simproc.spawn(ctx, MidjourneySimulator.name, MidjourneySimulator, config)
    url = sim.url or ""
    ctx.allow_host(ctx.host, sim.port)
    ctx.env["MJ_SIM_URL"] = url
    ctx.channels.append(ChannelSeed("midjourney", url, name="midjourney-sim", secret="sim-secret"))
    ctx.examples += [
        "curl -s -X POST {api}/mj/submit/imagine -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"prompt\": \"a red fox in the snow\"}}'",
        "curl -s {api}/mj/task/<result>/fetch -H 'Authorization: Bearer {demo_key}'",
        "curl -s -o fox.png {api}/mj/image/<result>",
        "curl -s -X POST {api}/mj/submit/action -H 'Authorization: Bearer {demo_key}' "
        "-H 'Content-Type: application/json' -d '{{\"taskId\": \"<result>\", \"customId\": \"<a button customId>\"}}'",
        "curl -s '{api}/api/mj/self?p=1&page_size=20' -H 'Authorization: Bearer {demo_token}' "
        "-H 'New-Api-User: {demo_user_id}'",
    ]
    ctx.checks.append(("midjourney simulator answers",
                       lambda: urllib.request.urlopen(f"{url}/health", timeout=5).read()))
    return sim
