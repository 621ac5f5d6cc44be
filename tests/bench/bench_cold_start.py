"""Cold import time of each Lambda handler module from the BUILT artifacts, as a ratio to `import boto3`.

Like Lambda: a fresh isolated interpreter (`python -I -S -B`: no venv site-packages, nothing written) with
`sys.path` = the function package (.build/function), the layer (.build/layer/python), then a stand-in for
the Lambda runtime's own packages (.build/bench-runtime: boto3, botocore, s3transfer, jmespath, dateutil, six,
urllib3 linked from this venv), using the .pyc files `make build` compiled (unchecked-hash). A module that
only the venv has (a dependency missing from the layer) fails here as it would on Lambda.

Route functions import `app` (Handler `app.app`: every blueprint); event and console handlers import
their own `functions.<module>` (their Handler in template.yaml). Each figure is the minimum over several
fresh interpreters (the least-disturbed run), reported as a ratio to `import boto3` measured the same way,
interleaved, in the same run: the target is <= 1.25. The clock is the process's CPU time: imports from a warm
page cache are CPU-bound, and CPU time does not count the time other processes of a busy machine take.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = ROOT / ".build" / "function"
LAYER_SITE = ROOT / ".build" / "layer" / "python"
RUNTIME = ROOT / ".build" / "bench-runtime"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))

SNIPPET = (
    "import sys, time; sys.path[:0] = [{function!r}, {layer!r}, {runtime!r}]; t = time.process_time(); "
    "import {module}; "
    "print(time.process_time() - t); print(sys.modules[{module!r}].__file__)"
)


def lambda_runtime_stand_in() -> Path:
    """.build/bench-runtime: links to the venv's copies of what the Lambda Python runtime ships."""
    import importlib.util

    RUNTIME.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed in this venv")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = RUNTIME / source.name
        if not link.exists():
            link.symlink_to(source)
    return RUNTIME


def _run(module: str) -> tuple[float, str]:
    code = SNIPPET.format(function=str(FUNCTION), layer=str(LAYER_SITE), runtime=str(RUNTIME), module=module)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "PYTHONPATH"}
    # -I -S: no venv site-packages (only what Lambda would have); -B: the file system is read-only on Lambda
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", code], capture_output=True, text=True, env=env,
                         cwd="/")
    if out.returncode != 0:
        raise RuntimeError(f"import {module} from the built artifacts failed:\n{out.stderr[-2000:]}")
    seconds, origin = out.stdout.strip().splitlines()[-2:]
    return float(seconds), origin


def measure(modules: list[str], runs: int = RUNS) -> dict[str, float]:
    """min over `runs` fresh interpreters per module; boto3 and the handlers interleaved so drift hits all alike."""
    best = {m: float("inf") for m in modules}
    for module in modules:  # warm the page cache once
        _, origin = _run(module)
        if module != "boto3" and not origin.startswith((str(FUNCTION), str(LAYER_SITE))):
            raise RuntimeError(f"{module} was imported from {origin}, not from the built artifact")
    for _ in range(runs):
        for module in modules:
            best[module] = min(best[module], _run(module)[0])
    return best


def handler_modules() -> list[str]:
    """`app` for routes, plus every other Handler's module, from template.yaml."""
    sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "layers")) if p not in sys.path]
    from infra.local.cfn import load_template, resources_of

    handlers = {props["Handler"] for props in resources_of(load_template(ROOT / "template.yaml"),
                                                           "AWS::Serverless::Function").values()}
    return sorted({h.rpartition(".")[0] for h in handlers})


def rows() -> list[dict]:
    from tests.bench.bench_package import ensure_built

    ensure_built()
    lambda_runtime_stand_in()
    modules = handler_modules()
    best = measure(["boto3", *modules])
    base = best["boto3"]
    out = [{"metric": "import boto3", "value": f"{base * 1000:.0f}", "unit": "ms CPU", "note": f"min of {RUNS}"}]
    for module in modules:
        seconds = best[module]
        out.append({"metric": f"cold import {module} (built)", "value": f"{seconds / base:.2f}", "unit": "x boto3",
                    "target": "<= 1.25", "note": f"{seconds * 1000:.0f} ms"})
    return out


if __name__ == "__main__":
    from tests.bench.__main__ import render

    print(render([("bench_cold_start", r) for r in rows()]))
