"""Dashboard task listings: GET /api/task/self (user) and GET /api/task/ (admin), new-api compatible."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response
from taskcenter.services.core.auth import authenticate_dashboard

from functions._http import base_url, dashboard_ok, guarded, header, lazy_module, query

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter.services.dashboard import task_listing as dashboard_tasks
else:
    dashboard_tasks = lazy_module("taskcenter.services.dashboard.task_listing")  # loaded by the first call (cold start)

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py). counters: rw for the page cursors (docs/listing.md).
PERMISSIONS = {
    "list_own_tasks": {"tables": {"users": "r", "credentials": "r", "tasks": "r", "counters": "rw"}},
    "list_all_tasks": {"tables": {"users": "r", "credentials": "r", "tasks": "r", "counters": "rw"}},
}


@bp.route("/api/task/self", methods=["GET"])
@guarded("dashboard")
def list_own_tasks() -> Response:
    request = bp.current_request
    principal = authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"))
    return dashboard_ok(dashboard_tasks.list_page(query(request), principal, admin=False,
                                                  base_url=base_url(request)))


@bp.route("/api/task", methods=["GET"])
@guarded("dashboard")
def list_all_tasks() -> Response:
    request = bp.current_request
    principal = authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"), admin=True)
    return dashboard_ok(dashboard_tasks.list_page(query(request), principal, admin=True,
                                                  base_url=base_url(request)))
