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


def new_mj_task_id(now_ms: int, numeric_id: int) -> str:
    """midjourney-proxy's form: the millisecond time and 3 digits (16 digits, below 2^53 until the year
    2255, so JavaScript clients that coerce it to a Number keep it exact). The digits are the task's
    sequence number mod 1000, not random: two ids of one millisecond differ unless 1,000 tasks are created
    in it (and the conditional create refuses a duplicate anyway). docs/midjourney.md, "Task ids"."""
    return f"{now_ms}{numeric_id % 1000:03d}"


def v1_task_key(numeric_id: int) -> str:
    """Task API v1 addresses tasks by their numeric id, so their key is derived from it (a consistent GetItem)."""
    return f"v1_{numeric_id}"
