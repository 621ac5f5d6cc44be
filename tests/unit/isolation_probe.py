"""Run pytest on some test files in this process with every socket connection refused and recorded, then
print what was imported and attempted, as one JSON line (tests/unit/test_unit_isolation.py reads it)."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

attempts: list[str] = []


def _refuse(self: socket.socket, address: Any, *args: Any) -> None:
    attempts.append(repr(address))
    raise OSError("network refused by tests/unit/isolation_probe.py")


def main(paths: list[str]) -> int:
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse  # type: ignore[method-assign,assignment]
    import pytest

    rc = int(pytest.main(["-q", "-n", "0", "-p", "no:cacheprovider", *paths]))
    prefixes = ("moto", "responses", "werkzeug")  # moto and what it brings for its server mode
    report = {"rc": rc, "connections": attempts,
              "imported": sorted(m for m in sys.modules if m.split(".")[0] in prefixes)}
    print("ISOLATION " + json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
