"""make build (infra/build.py): the function package holds the app, the handlers and the Chalice runtime only,
byte-compiled with unchecked-hash .pyc files, and it imports from the package. No network: the dependency
layer's pip step is exercised by `make build` / `make bench`, not here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from infra import build

ROOT = Path(__file__).resolve().parents[2]


def test_function_package_is_app_handlers_and_chalice_runtime_with_unchecked_hash_pyc(tmp_path):
    target = build.build_function(tmp_path / "function")
    build.compile_tree(target)

    top = sorted(p.name for p in target.iterdir())
    assert top == ["__pycache__", "app.py", "chalice", "functions"]
    assert sorted(p.name for p in (target / "chalice").glob("*.py")) == ["__init__.py", "app.py"]
    assert {p.name for p in (target / "functions").glob("*.py")} == {p.name for p in (ROOT / "functions").glob("*.py")}
    assert build.forbidden_packages(target) == []
    # chalice/app.py is standard library only (the CLI's dependencies are not shipped)
    imported = {line.split()[1].split(".")[0] for line in (target / "chalice" / "app.py").read_text().splitlines()
                if line.startswith(("import ", "from "))}
    assert imported and imported <= set(sys.stdlib_module_names)

    sources = list(target.rglob("*.py"))
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[4:8], "little") == 1, f"{pyc}: not unchecked-hash"  # PEP 552 flags


def test_the_package_imports_the_shipped_chalice_runtime(tmp_path):
    target = build.build_function(tmp_path / "function")
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app, chalice, functions.admin; "
            "print(chalice.__file__); print(app.app.app_name)")
    out = subprocess.run([sys.executable, "-c", code, str(target), str(ROOT / "layers")], capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    chalice_file, app_name = out.stdout.split()
    assert chalice_file.startswith(str(target)) and app_name == "task-center"


def test_runtime_provided_and_test_only_packages_are_refused(tmp_path):
    (tmp_path / "boto3").mkdir()
    (tmp_path / "moto").mkdir()
    assert len(build.forbidden_packages(tmp_path)) == 2
