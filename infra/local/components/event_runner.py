"""Local stack component: the event runner (infra/local/runner.py) in its own process, after the API.

It fires the template's schedules and drains its queues as template.yaml declares them; its log, one line
per invocation plus the handlers' own output, is `.local/logs/event-runner.log`. LOCAL_SCHEDULE_SCALE
(default 1) speeds up rate() schedules, e.g. 0.05 runs rate(1 minute) every 3 s; LOCAL_VISIBILITY_SCALE
(default 1) shortens the time failed messages stay invisible. Its control API (the component's URL, also in
credentials.json "components") fires a schedule or drains a queue on request: POST /fire/<FunctionId>,
POST /drain/<FunctionId>. docs/local-stack.md has the details.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import urllib.request
from typing import Any

from infra.local.context import ProcessComponent, StackContext, free_port

ORDER = 60  # after the API (>= 50): seeding is done and the API answers before the first event


def write_config(ctx: StackContext) -> Any:
    path = ctx.state_dir / "event-runner.json"
    document = {"template": ctx.template, "region": ctx.env.get("AWS_REGION", "us-east-1"),
                "queues": {lid: dataclasses.asdict(q) for lid, q in ctx.queues.items()}}
    path.write_text(json.dumps(document, indent=1, sort_keys=True))
    return path


def start(ctx: StackContext) -> ProcessComponent:
    config = write_config(ctx)
    port = free_port(ctx.host)
    url = f"http://{ctx.host}:{port}"
    # ready once the handlers are imported and the consumers run (the control API starts last)
    component = ctx.spawn("event-runner", [sys.executable, "-m", "infra.local.runner", "--config", str(config),
                                           "--host", ctx.host, "--port", str(port)],
                          url=url, ready_url=f"{url}/health", timeout=30)

    def runner_is_healthy() -> None:
        if not component.alive():
            raise RuntimeError(f"event runner exited (code {component.proc.returncode})")
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            if not json.loads(reply.read()).get("ok"):
                raise RuntimeError("event runner /health is not ok")

    ctx.checks.append(("event runner is running", runner_is_healthy))
    scheduled = sorted(lid for lid, res in ctx.template["Resources"].items() if isinstance(res, dict) and any(
        e.get("Type") == "Schedule" for e in ((res.get("Properties") or {}).get("Events") or {}).values()))
    if scheduled:
        ctx.examples.append(f"curl -s -X POST {url}/fire/{scheduled[0]}   # event runner: run a schedule now")
    return component
