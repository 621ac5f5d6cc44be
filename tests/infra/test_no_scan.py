"""No Scan on a request path or in a scheduled job (DESIGN: "no Scan outside admin maintenance tools"): the only
production module that calls a model's or a table's scan is the admin maintenance module, run by an operator."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAINTENANCE = {"layers/taskcenter/store/maintenance.py"}


def _scans(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "scan"]


def test_only_the_maintenance_module_scans() -> None:
    found = {}
    for top in ("layers/taskcenter", "functions", "app.py"):
        for path in ([ROOT / top] if top.endswith(".py") else sorted((ROOT / top).rglob("*.py"))):
            relative = str(path.relative_to(ROOT))
            if relative not in MAINTENANCE and (lines := _scans(path)):
                found[relative] = lines
    assert found == {}
    assert all(_scans(ROOT / module) for module in MAINTENANCE)  # the allowlist names a module that scans


def test_no_lambda_function_imports_the_maintenance_module() -> None:
    for path in sorted((ROOT / "functions").rglob("*.py")) + [ROOT / "app.py"]:
        assert "store.maintenance" not in path.read_text(encoding="utf-8"), path
