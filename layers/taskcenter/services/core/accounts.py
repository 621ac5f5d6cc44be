"""The caller's own account."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from taskcenter.domain.errors import Unauthorized
from taskcenter.store.models import User


def user_self(user_id: int) -> dict[str, Any]:
    try:
        user = User.get(user_id, consistent_read=True)
    except DoesNotExist as error:
        raise Unauthorized("user no longer exists") from error
    return {
        "id": int(user.id), "username": user.username, "display_name": user.display_name, "role": int(user.role),
        "status": int(user.status), "group": user.group, "quota": int(user.quota),
        "used_quota": int(user.used_quota), "request_count": int(user.request_count),
    }
