"""The usage log, new-api compatible (docs/usage-log.md): GET /api/log/self, /api/log/ (admin) and their /stat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response
from taskcenter.services.core.auth import authenticate_dashboard

from functions._http import dashboard_ok, guarded, header, lazy_module, query

if TYPE_CHECKING:  # what the lazy_module name below stands for (loaded by the first call: cold start)
    from taskcenter.services.usage_log import listing as usage_log
else:
    usage_log = lazy_module("taskcenter.services.usage_log.listing")

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py): the ledger read through its indexes, users for names.
PERMISSIONS = {
    "list_own_logs": {"tables": {"users": "r", "credentials": "r", "ledger": "r", "counters": "r"}},  # hour buckets
    "list_all_logs": {"tables": {"users": "r", "credentials": "r", "ledger": "r", "counters": "r"}},
    "own_log_stat": {"tables": {"users": "r", "credentials": "r", "ledger": "r", "counters": "r"}},  # quota sums
    "all_log_stat": {"tables": {"users": "r", "credentials": "r", "ledger": "r", "counters": "r"}},
}


def _principal(*, admin: bool):  # noqa: ANN202 - a Principal (services.core.auth)
    request = bp.current_request
    return authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"), admin=admin)


@bp.route("/api/log/self", methods=["GET"])
@guarded("dashboard")
def list_own_logs() -> Response:
    principal = _principal(admin=False)
    return dashboard_ok(usage_log.list_own(query(bp.current_request), principal))


@bp.route("/api/log", methods=["GET"])
@guarded("dashboard")
def list_all_logs() -> Response:
    principal = _principal(admin=True)
    return dashboard_ok(usage_log.list_all(query(bp.current_request), principal))


@bp.route("/api/log/self/stat", methods=["GET"])
@guarded("dashboard")
def own_log_stat() -> Response:
    principal = _principal(admin=False)
    return dashboard_ok(usage_log.stat_own(query(bp.current_request), principal))


@bp.route("/api/log/stat", methods=["GET"])
@guarded("dashboard")
def all_log_stat() -> Response:
    principal = _principal(admin=True)
    return dashboard_ok(usage_log.stat_all(query(bp.current_request), principal))
