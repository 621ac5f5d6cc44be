"""Admin Lambda: operators run it from the AWS console's Test tab with a JSON event.

Example event: {"op": "top_up", "user_id": 2, "amount": 500000}. Every operation, its fields and its
replies are in docs/admin.md; the op table is `taskcenter.services.admin.operation_specs` (shared with the CLI
`python -m infra.admin_cli`). The reply is {"ok": true, "result": ...} or
{"ok": false, "error": "<code>", "message": "...", "field": ...}; bad input never raises.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py): the tables and secrets this function may touch.
PERMISSIONS = {
    "admin_operation": {
        "tables": {"users": "rw", "credentials": "rw", "channels": "rw", "ledger": "rw", "counters": "rw"},
        "secrets": "write",  # channel secrets: create, new version, scheduled deletion, restore
    },
}


@bp.lambda_function(name="admin")
def admin_operation(event: Any, context: Any) -> dict[str, Any]:
    from taskcenter.services.admin import (
        operation_specs as admin_ops,  # imported here: every API function loads this blueprint too
    )

    return admin_ops.run(event)
