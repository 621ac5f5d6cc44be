"""Cold import time of each Lambda entry module as a ratio to `import boto3`, measured in one run.

Every route function's Handler is `app.app` (importing app.py imports every blueprint); event and
console handlers import only their own `functions.<module>`. Each figure is the minimum over several
fresh interpreters (the least-disturbed run), and is reported as a ratio to `import boto3` measured
the same way in the same run: the target is <= 1.25.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))

SNIPPET = (
    "import sys, time; sys.path[:0] = [{root!r}, {layer!r}]; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t)"
)


def import_seconds(module: str, runs: int = RUNS) -> float:
    code = SNIPPET.format(root=str(ROOT), layer=str(ROOT / "layers"), module=module)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    samples = []
    for _ in range(runs + 1):  # the first run warms the .pyc cache
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                             cwd=str(ROOT))
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return min(samples[1:])


def entry_modules() -> list[str]:
    modules = ["app"]
    for path in sorted((ROOT / "functions").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        text = path.read_text()
        if any(marker in text for marker in ("on_sqs_message", "schedule(", "lambda_function(")):
            modules.append(f"functions.{path.stem}")
    return modules


def rows() -> list[dict]:
    base = import_seconds("boto3")
    out = [{"metric": "import boto3", "value": f"{base * 1000:.0f}", "unit": "ms", "note": f"min of {RUNS}"}]
    for module in entry_modules():
        seconds = import_seconds(module)
        out.append({"metric": f"cold import {module}", "value": f"{seconds / base:.2f}", "unit": "x boto3",
                    "target": "<= 1.25", "note": f"{seconds * 1000:.0f} ms"})
    return out


if __name__ == "__main__":
    from tests.bench.__main__ import render

    print(render([("bench_cold_start", r) for r in rows()]))
