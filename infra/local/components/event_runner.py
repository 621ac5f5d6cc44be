"""Local stack component: the event runner (infra/local/runner.py) in its own process, after the API.

It fires the template's schedules and drains its queues as template.yaml declares them; its log, one line
per invocation plus the handlers' own output, is `.local/logs/event-runner.log`. LOCAL_SCHEDULE_SCALE
(default 1) speeds up rate() schedules, e.g. 0.05 runs rate(1 minute) every 3 s; LOCAL_VISIBILITY_SCALE
(default 1) shortens the time failed messages stay invisible. docs/local-stack.md has the details.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Any

from infra.local.context import ProcessComponent, StackContext

ORDER = 60  # after the API (>= 50): seeding is done and the API answers before the first event


def write_config(ctx: StackContext) -> Any:
    path = ctx.state_dir / "event-runner.json"
    document = {"template": ctx.template, "region": ctx.env.get("AWS_REGION", "us-east-1"),
                "queues": {lid: dataclasses.asdict(q) for lid, q in ctx.queues.items()}}
    path.write_text(json.dumps(document, indent=1, sort_keys=True))
    return path


def start(ctx: StackContext) -> ProcessComponent:
    config = write_config(ctx)
    component = ctx.spawn("event-runner", [sys.executable, "-m", "infra.local.runner", "--config", str(config)])
    log = ctx.log_path("event-runner")

    def runner_is_ready() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not component.alive():
                raise RuntimeError(f"event runner exited (code {component.proc.returncode}); see {log}")
            if ctx.verbose or " ready: " in log.read_text(errors="replace"):
                return
            time.sleep(0.1)  # bounded wait for the runner to import the handlers
        raise TimeoutError(f"event runner not ready after 20 s; see {log}")

    ctx.checks.append(("event runner is running", runner_is_ready))
    return component
