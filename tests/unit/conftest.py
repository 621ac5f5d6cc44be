"""Unit-test fixtures: `mem`, the services' world on the in-memory repositories (tests/unit/memory_world.py)."""

from tests.unit.memory_world import mem  # noqa: F401
