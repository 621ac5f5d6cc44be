"""The built Lambda artifacts (`make build`): sizes, what is inside, and how the .pyc files are validated.

Rows only (no assertions): function package and dependency layer sizes (unzipped and deflated, as `sam deploy`
uploads them), whether boto3/botocore/moto are inside (they must not be: boto3 comes from the runtime, moto is
test-only), the .pyc invalidation modes read from each .pyc header (PEP 552 flags: 0 timestamp,
1 unchecked-hash, 3 checked-hash; unchecked-hash is the one that survives zip timestamps), sources without a
.pyc, and the largest packages of the layer.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = ROOT / ".build" / "function"
LAYER = ROOT / ".build" / "layer"
MODES = {0: "timestamp", 1: "unchecked-hash", 3: "checked-hash"}


def ensure_built() -> None:
    """Rebuild the function package and the layer's taskcenter (fast); pip only when the layer is missing."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from infra import build

    build.build(dependencies=False)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def zipped_size(root: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files(root):
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.tell()


def pyc_modes(root: Path) -> Counter[str]:
    modes: Counter[str] = Counter()
    for path in root.rglob("*.pyc"):
        header = path.read_bytes()[:8]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            modes["other Python version"] += 1
            continue
        modes[MODES.get(int.from_bytes(header[4:8], "little"), "unknown")] += 1
    return modes


def sources_without_pyc(root: Path) -> int:
    missing = 0
    for source in root.rglob("*.py"):
        cached = importlib.util.cache_from_source(str(source))
        if not Path(cached).exists():
            missing += 1
    return missing


def present(root: Path, name: str) -> bool:
    return (root / name).exists() or (root / f"{name}.py").exists()


def largest_packages(site: Path, count: int = 4) -> str:
    sizes = {p.name: sum(f.stat().st_size for f in files(p)) for p in site.iterdir()
             if p.is_dir() and not p.name.endswith(".dist-info") and p.name != "__pycache__"}
    top = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {size / 1024 / 1024:.1f} MiB" for name, size in top)


def rows() -> list[dict]:
    ensure_built()
    out: list[dict] = []
    for label, root in (("function package", FUNCTION), ("dependency layer", LAYER)):
        out.append({"metric": f"{label} size", "value": f"{sum(p.stat().st_size for p in files(root)) / 1024:.0f}",
                    "unit": "KiB unzipped", "note": f"{zipped_size(root) / 1024:.0f} KiB zipped; "
                                                    f"{len(files(root))} files"})
    for label, root in (("function package", FUNCTION), ("dependency layer", LAYER / "python")):
        inside = [name for name in ("boto3", "botocore", "moto") if present(root, name)]
        out.append({"metric": f"{label}: boto3/botocore/moto inside", "value": ", ".join(inside) or "no",
                    "target": "no"})
        modes = pyc_modes(root)
        out.append({"metric": f"{label}: pyc invalidation mode",
                    "value": ", ".join(f"{mode} {n}" for mode, n in sorted(modes.items())) or "no .pyc",
                    "target": "unchecked-hash only", "note": f"{sources_without_pyc(root)} .py without .pyc"})
    out.append({"metric": "largest layer packages", "value": largest_packages(LAYER / "python")})
    return out


if __name__ == "__main__":
    from tests.bench.__main__ import render

    print(render([("bench_package", r) for r in rows()]))
