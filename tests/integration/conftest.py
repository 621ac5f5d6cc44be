"""Integration fixtures shared by several modules (the Task API v1 world)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.v1_support import V1World, make_v1_world


@pytest.fixture
def v1(world: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[V1World]:
    """A Task API v1 world: the seeded users, a simulated TikMatrix host and its channel."""
    v1 = make_v1_world(world, client, monkeypatch)
    yield v1
    v1.sim.stop()
