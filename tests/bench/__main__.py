"""Run every benchmark and print one table: `python -m tests.bench` (or `make bench`).

Each module tests/bench/bench_*.py exposes `rows() -> list[dict]` (or `run()`); a row has at least
`metric` and `value`, optionally `unit`, `target` and `note`. Figures are counts and ratios measured
in one run, never timed assertions.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "layers"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def collect(only: set[str] | None = None) -> list[tuple[str, dict]]:
    import tests.bench as pkg

    out: list[tuple[str, dict]] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (only and info.name not in only):
            continue
        try:
            module = importlib.import_module(f"tests.bench.{info.name}")
            produce = getattr(module, "rows", None) or getattr(module, "run", None)
            if produce is None:
                continue
            for row in produce() or []:
                out.append((info.name, dict(row)))
        except Exception:
            traceback.print_exc()
            out.append((info.name, {"metric": "FAILED", "value": "see traceback above"}))
    return out


def render(rows: list[tuple[str, dict]]) -> str:
    header = ("benchmark", "metric", "value", "unit", "target", "note")
    table = [header] + [
        (name, str(r.get("metric", "")), str(r.get("value", "")), str(r.get("unit", "")),
         str(r.get("target", "")), str(r.get("note", "")))
        for name, r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from taskcenter import settings

    settings.follow_environment(True)  # the benchmarks set variables between runs
    only = {a if a.startswith("bench_") else f"bench_{a}" for a in argv} or None
    rows = collect(only)
    print(render(rows))
    return 1 if any(r.get("metric") == "FAILED" for _, r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
