"""The results bucket contract (tests/result_objects_contract.py) against the in-memory twin."""

from __future__ import annotations

import pytest
from taskcenter.store.memory_results import MemoryResultObjects

from tests.result_objects_contract import ResultObjectsContract


class TestMemoryResultObjects(ResultObjectsContract):
    @pytest.fixture
    def objects(self) -> MemoryResultObjects:
        return MemoryResultObjects()
