"""The caller's own account."""

from __future__ import annotations

from typing import Any

from taskcenter.domain.errors import Unauthorized


def user_self(user_id: int) -> dict[str, Any]:
    from taskcenter.store.repositories import current as repositories  # late: every route imports this module

    user = repositories().users.get(user_id)
    if user is None:
        raise Unauthorized("user no longer exists")
    return {
        "id": int(user.id), "username": user.username, "display_name": user.display_name, "role": int(user.role),
        "status": int(user.status), "group": user.group, "quota": int(user.quota),
        "used_quota": int(user.used_quota), "request_count": int(user.request_count),
    }
