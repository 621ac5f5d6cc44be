"""Public identifiers. Random, generated before any upstream call (so a crash can still be traced)."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def random_alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def new_suno_task_id() -> str:
    """new-api style: `task_` + 32 random alphanumerics."""
    return "task_" + random_alnum(32)


def new_mj_task_id(now_ms: int) -> str:
    """midjourney-proxy ids are numeric strings (ms timestamp + digits); clients may parse them as such."""
    return f"{now_ms}{secrets.randbelow(10**6):06d}"


def v1_task_key(numeric_id: int) -> str:
    """Task API v1 addresses tasks by their numeric id, so their key is derived from it (a consistent GetItem)."""
    return f"v1_{numeric_id}"
