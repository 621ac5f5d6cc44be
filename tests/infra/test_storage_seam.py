"""Services behind the repositories (docs/repositories.md): these modules reach storage only through
`store.repositories` (and store helpers that do no I/O), never PynamoDB, boto3 or the models at run time. A
`if TYPE_CHECKING:` import of a model, for annotations, is allowed. lint-imports forbids PynamoDB and boto3
in every service module (pyproject.toml); this also keeps the models out of the modules moved so far."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "layers" / "taskcenter" / "services"
BEHIND_REPOSITORIES = [
    "admin/operations.py", "admin/operation_specs.py", "admin/secrets.py",
    "core/accounts.py", "core/channels.py", "core/idempotency.py", "core/lifecycle.py",
    "core/platform_registry.py", "core/submission.py",
    "jobs/refunds.py", "jobs/retry_worker.py", "jobs/sweeper.py",
]
FORBIDDEN = ("pynamodb", "boto3", "botocore", "taskcenter.store.models")


def runtime_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "taskcenter.store":
                names += [f"taskcenter.store.{alias.name}" for alias in node.names]
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))


@pytest.mark.parametrize("module", BEHIND_REPOSITORIES)
def test_module_reaches_storage_through_the_repositories_only(module: str) -> None:
    assert runtime_imports(SERVICES / module) == []


def test_the_check_sees_a_runtime_import_and_lets_a_typing_one_pass(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\nfrom taskcenter.store import models\n"
                      "from pynamodb.exceptions import DoesNotExist\n"
                      "if TYPE_CHECKING:\n    from taskcenter.store.models import Task\n"
                      "def f():\n    import boto3\n")
    assert runtime_imports(sample) == ["boto3", "pynamodb.exceptions", "taskcenter.store.models"]
