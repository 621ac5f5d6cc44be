"""functions._http.lazy_module: imported on first use, once, safely from many threads at the same time.

(The first version used importlib.util.LazyLoader, which is not thread-safe on Python 3.11: concurrent first
requests under `chalice local` saw a half-loaded module; found by the chaos run.)
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from functions._http import lazy_module


def test_first_use_from_many_threads_sees_the_whole_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow_service_for_lazy_test.py").write_text(
        "import time\nLOADS = []\nLOADS.append(1)\ntime.sleep(0.2)\ndef submit():\n    return 'ok'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_service_for_lazy_test", raising=False)
    service = lazy_module("slow_service_for_lazy_test")
    assert "slow_service_for_lazy_test" not in sys.modules  # nothing imported yet

    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(service.submit())
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == ["ok"] * 8
    assert sys.modules["slow_service_for_lazy_test"].LOADS == [1]  # executed once
