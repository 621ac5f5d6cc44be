"""Time source. Tests move time with `set_now`; production reads the wall clock."""

from __future__ import annotations

import time

_frozen_ms: int | None = None


def now_ms() -> int:
    return _frozen_ms if _frozen_ms is not None else int(time.time() * 1000)


def now_s() -> int:
    return now_ms() // 1000


def set_now(ms: int | None) -> None:
    """Freeze the clock at `ms` (None unfreezes). For tests and simulations only."""
    global _frozen_ms
    _frozen_ms = ms


def advance(seconds: float) -> int:
    global _frozen_ms
    base = _frozen_ms if _frozen_ms is not None else int(time.time() * 1000)
    _frozen_ms = base + int(seconds * 1000)
    return _frozen_ms
