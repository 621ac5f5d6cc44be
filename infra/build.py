"""Build what template.yaml deploys into .build/: `make build` (python -m infra.build).

    .build/function/   CodeUri of every function: app.py, functions/, and the Chalice runtime only
                       (chalice/__init__.py + chalice/app.py: standard library only, no CLI dependencies)
    .build/layer/python/  ContentUri of DependencyLayer: `pip install --target` of layers/requirements.txt
                       (pure-Python wheels for linux arm64 / CPython 3.11, versions constrained to this venv's,
                       so what ships is what the tests ran) and the taskcenter package from layers/

boto3, botocore and s3transfer (and botocore's dateutil/six) come from the Lambda runtime and are removed
from the layer; moto is a test dependency and never shipped (the build fails if either appears). Everything
is byte-compiled with `--invalidation-mode unchecked-hash`: `sam deploy` zips the directories and zip
timestamps would make ordinary (timestamp-checked) .pyc files stale, so Lambda would recompile on every cold
start; unchecked-hash .pyc files are used as they are. Then `sam deploy --guided` (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import inspect
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build"
FUNCTION_DIR = BUILD / "function"
LAYER_DIR = BUILD / "layer"
LAYER_SITE = LAYER_DIR / "python"
REQUIREMENTS = ROOT / "layers" / "requirements.txt"

PYTHON_VERSION = "3.11"  # must equal the template's Runtime: .pyc magic numbers are per minor version
PLATFORM = "manylinux2014_aarch64"  # the template's Architectures: arm64
# Provided by the Lambda Python runtime; shipping them would only add size (and shadow the runtime's).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "python-dateutil", "six")
FORBIDDEN = ("boto3", "botocore", "moto")  # top-level packages that must never be in the artifacts
SKIP = ("__pycache__", "*.pyc", "*.egg-info", ".DS_Store")


def say(message: str) -> None:
    print(f"[build] {message}", flush=True)


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SKIP))


# ---------------------------------------------------------------- function package
def build_function(target: Path = FUNCTION_DIR) -> Path:
    import chalice
    import chalice.app

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", target / "app.py")
    copy_tree(ROOT / "functions", target / "functions")
    (target / "chalice").mkdir()
    # What `chalice package` ships: the runtime module and the package's __init__, which imports only chalice.app.
    shutil.copy2(inspect.getfile(chalice.app), target / "chalice" / "app.py")
    shutil.copy2(inspect.getfile(chalice), target / "chalice" / "__init__.py")
    return target


# ---------------------------------------------------------------- dependency layer
def constraints_file(path: Path) -> Path:
    """Pin every distribution to the version installed in this venv (the versions the tests ran with)."""
    lines = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                    if d.metadata["Name"] and d.metadata["Name"].lower() != "taskcenter"}, key=str.lower)
    path.write_text("\n".join(lines) + "\n")
    return path


def remove_distribution(site: Path, name: str) -> bool:
    for dist in importlib.metadata.distributions(path=[str(site)]):
        if (dist.metadata["Name"] or "").lower().replace("_", "-") != name:
            continue
        files = list(dist.files or [])
        for file in files:
            (site / file).unlink(missing_ok=True)
        for top in sorted({Path(str(f)).parts[0] for f in files}):  # the package's own directories
            if (site / top).is_dir() and top != "bin":
                shutil.rmtree(site / top)
        return True
    return False


def install_dependencies(site: Path) -> None:
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    constraints = constraints_file(BUILD / "constraints.txt")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", str(site), "--platform", PLATFORM, "--implementation", "cp",
               "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--constraint", str(constraints),
               "--requirement", str(REQUIREMENTS)]
    say("pip install --target " + str(site.relative_to(ROOT)) + " -r layers/requirements.txt")
    subprocess.run(command, check=True, cwd=ROOT)
    for name in RUNTIME_PROVIDED:
        if remove_distribution(site, name):
            say(f"removed {name} (provided by the Lambda runtime)")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts are useless in a layer


def build_layer(target: Path = LAYER_DIR, *, dependencies: bool = True) -> Path:
    """The layer; `dependencies=False` keeps already installed third-party packages and refreshes taskcenter."""
    site = target / "python"
    if dependencies or not site.is_dir():
        install_dependencies(site)
    shutil.rmtree(site / "taskcenter", ignore_errors=True)
    copy_tree(ROOT / "layers" / "taskcenter", site / "taskcenter")
    return target
# ---------------------------------------------------------------- checks and compile
def forbidden_packages(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for name in FORBIDDEN:
            if (root / name).exists() or (root / f"{name}.py").exists():
                found.append(str(root / name))
    return found


def compile_tree(root: Path) -> None:
    if not compileall.compile_dir(str(root), quiet=1, workers=0,
                                  invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
        raise RuntimeError(f"byte-compiling {root} failed")


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def build(*, dependencies: bool = True) -> dict[str, int]:
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise SystemExit(f"build with Python {PYTHON_VERSION} (the Lambda runtime); this is {sys.version.split()[0]}")
    BUILD.mkdir(exist_ok=True)
    function = build_function()
    targets = [function, build_layer(dependencies=dependencies) / "python"]
    bad = forbidden_packages(function, LAYER_SITE)
    if bad:
        raise SystemExit(f"refusing to ship {bad}: boto3/botocore come from the Lambda runtime, moto is test-only")
    for root in targets:
        compile_tree(root)
    sizes = {"function": tree_size(function), "layer": tree_size(LAYER_DIR)}
    say(f"function package {function.relative_to(ROOT)}: {sizes['function'] / 1024:.0f} KiB; "
        f"layer {LAYER_DIR.relative_to(ROOT)}: {sizes['layer'] / 1024 / 1024:.1f} MiB (unzipped)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-dependencies", action="store_true",
                        help="reuse the layer's installed third-party packages (no pip); still refreshes taskcenter")
    args = parser.parse_args(argv)
    build(dependencies=not args.keep_dependencies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
