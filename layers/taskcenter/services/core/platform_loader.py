"""Where the composition root (functions/_composition.py) leaves the loader of the platform table.

Kept apart from `platform_registry` (its row type, the adapters' base module) so that installing the
loader, which every Lambda entry does at import, costs nothing at cold start; the registry is imported by
the first code that needs a platform (docs/architecture.md, "Platforms").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

loader: Callable[[], Mapping[str, Any]] | None = None


def install(load: Callable[[], Mapping[str, Any]]) -> None:
    """Give core the platform table (the loader runs on first use)."""
    global loader
    loader = load
