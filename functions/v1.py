"""Task API v1 (TikMatrix task API, tikmatrix-task-api.md): `{"code": 0, "message": "success", "data": ...}`.

Auth: `Authorization: Bearer <access token or sk- API key>` (or `X-API-Key`). Every route but the
license check answers 40301 to a plan without API access (Starter). docs/task-api-v1.md has the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response
from taskcenter.services.core.auth import Principal, authenticate_any

from functions._http import CONTENT_TYPES, guarded, header, json_object, json_response, lazy_module, query, v1_ok

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter.services.task_api_v1 import create as v1_create
    from taskcenter.services.task_api_v1 import manual_retry as v1_retry
    from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks
else:
    v1_tasks = lazy_module("taskcenter.services.task_api_v1.task_endpoints")  # loaded by the first call (cold start)
    v1_retry = lazy_module("taskcenter.services.task_api_v1.manual_retry")
    v1_create = lazy_module("taskcenter.services.task_api_v1.create")

bp = Blueprint(__name__)

_READ = {"tables": {"credentials": "r", "tasks": "r", "counters": "rw"}}  # counters: listing page cursors
_WRITE = {
    "tables": {"users": "rw", "credentials": "rw", "channels": "r", "tasks": "rw", "ledger": "rw", "counters": "rw"},
    "queues": {"retry": "send", "refund": "send"},
}
_STOPS = {**_WRITE, "secrets": "read"}  # stop/delete ask the host to cancel, with the channel's secret
# Read by the template generator (infra/template.py): the tables and queues each function may touch.
PERMISSIONS = {
    "v1_create_task": {**_WRITE, "kms": "encrypt"},  # seals script_config secrets (taskcenter/script_secrets.py)
    "v1_list_tasks": _READ,
    "v1_get_task": _READ,
    "v1_delete_task": _STOPS,
    "v1_batch_delete_tasks": _STOPS,
    "v1_stop_task": _STOPS,
    "v1_retry_task": _WRITE,
    "v1_retry_all_tasks": _WRITE,  # runs the first page itself (services/task_api_v1/manual_retry.py)
    "v1_task_stats": {"tables": {"credentials": "r", "counters": "r"}},
    "v1_license_check": {"tables": {"credentials": "r"}},
}


def _caller() -> Principal:
    request = bp.current_request
    return authenticate_any(header(request, "Authorization"), header(request, "X-API-Key"))


def _api_caller() -> Principal:
    principal = _caller()
    v1_tasks.require_api(principal)
    return principal


@bp.route("/api/v1/task", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_create_task() -> Response:
    principal = _api_caller()
    return v1_ok(v1_create.create(principal, json_object(bp.current_request)))


@bp.route("/api/v1/task", methods=["GET"])
@guarded("v1")
def v1_list_tasks() -> Response:
    principal = _api_caller()
    return v1_ok(v1_tasks.list_tasks(principal, query(bp.current_request)))


@bp.route("/api/v1/task/stats", methods=["GET"])
@guarded("v1")
def v1_task_stats() -> Response:
    return v1_ok(v1_tasks.stats(_api_caller()))


@bp.route("/api/v1/task/retry-all", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_retry_all_tasks() -> Response:
    principal = _api_caller()
    json_object(bp.current_request, required=False)  # a body, if any, must still be JSON
    return v1_ok(v1_retry.start_retry_all(principal))


@bp.route("/api/v1/task/batch", methods=["DELETE"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_batch_delete_tasks() -> Response:
    principal = _api_caller()
    return v1_ok(v1_tasks.batch_delete(principal, json_object(bp.current_request)))


@bp.route("/api/v1/task/{task_id}", methods=["GET"])
@guarded("v1")
def v1_get_task(task_id: str) -> Response:
    principal = _api_caller()
    return v1_ok(v1_tasks.get(principal, v1_tasks.parse_task_id(task_id)))


@bp.route("/api/v1/task/{task_id}", methods=["DELETE"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_delete_task(task_id: str) -> Response:
    principal = _api_caller()
    numeric_id = v1_tasks.parse_task_id(task_id)
    v1_tasks.delete(principal, numeric_id)
    return v1_ok({"task_id": numeric_id, "deleted": True})


@bp.route("/api/v1/task/{task_id}/stop", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_stop_task(task_id: str) -> Response:
    principal = _api_caller()
    return v1_ok(v1_tasks.stop(principal, v1_tasks.parse_task_id(task_id)))


@bp.route("/api/v1/task/{task_id}/retry", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("v1")
def v1_retry_task(task_id: str) -> Response:
    principal = _api_caller()
    return v1_ok(v1_retry.retry(principal, v1_tasks.parse_task_id(task_id)))


@bp.route("/api/v1/license/check", methods=["GET"])
@guarded("v1")
def v1_license_check() -> Response:
    info = v1_tasks.license_info(_caller())
    if not info["api_enabled"]:  # the reference's 40301, with the plan; HTTP 200: the check itself succeeded
        return json_response({"code": 40301, "message": info["message"], "data": info}, 200)
    return v1_ok(info)
