"""Dashboard: the caller's own account."""

from __future__ import annotations

from chalice import Blueprint, Response
from taskcenter.services.core import accounts
from taskcenter.services.core.auth import authenticate_dashboard

from functions._http import dashboard_ok, guarded, header

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py): authentication reads credentials, the reply reads users.
PERMISSIONS = {"get_user_self": {"tables": {"credentials": "r", "users": "r"}}}


@bp.route("/api/user/self", methods=["GET"])
@guarded("dashboard")
def get_user_self() -> Response:
    request = bp.current_request
    principal = authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"))
    return dashboard_ok(accounts.user_self(principal.user_id))
