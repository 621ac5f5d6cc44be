"""The unit tests of services on the in-memory repositories use no moto and no network: they run in a fresh
interpreter with every socket connection refused and recorded, and afterwards moto is not even imported.
A control run (a test that imports moto and opens a connection) shows the probe sees both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IN_MEMORY = ["tests/unit/test_services_in_memory.py", "tests/unit/test_repositories_memory.py",
             "tests/unit/test_admin_in_memory.py", "tests/unit/test_sweeper_in_memory.py",
             "tests/unit/test_poll_path_in_memory.py"]


def probe(paths: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.unit.isolation_probe", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("ISOLATION "))
    return json.loads(line.removeprefix("ISOLATION "))


def test_service_unit_tests_import_no_moto_and_open_no_connection() -> None:
    report = probe(IN_MEMORY)
    assert report == {"rc": 0, "connections": [], "imported": []}


def test_the_probe_sees_moto_and_a_connection(tmp_path: Path) -> None:
    control = tmp_path / "test_control.py"
    control.write_text("import socket\nimport moto\n\n\ndef test_uses_both():\n"
                       "    assert moto\n    try:\n        socket.create_connection(('192.0.2.1', 9), timeout=1)\n"
                       "    except OSError:\n        pass\n")
    report = probe([str(control)])
    assert "moto" in report["imported"] and report["connections"]
