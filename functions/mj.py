"""Midjourney: the relay (midjourney-proxy protocol, API key) and the dashboard listings (/api/mj).

docs/midjourney.md describes the surface; the rules live in taskcenter.services.midjourney: relay,
dashboard_listing and image_proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from taskcenter import settings
from taskcenter.services.core.auth import Principal, authenticate_dashboard, authenticate_relay
from taskcenter.services.core.idempotency import HEADER as IDEMPOTENCY_HEADER

from functions._http import (
    CONTENT_TYPES,
    base_url,
    dashboard_ok,
    guarded,
    header,
    json_object,
    json_response,
    lazy_module,
    mj_error,
    query,
)

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter.services.midjourney import dashboard_listing as mj_listing
    from taskcenter.services.midjourney import image_proxy
    from taskcenter.services.midjourney import relay as mj_relay
    from taskcenter.services.results import serving as results_serving
    from taskcenter.store import tasks as task_store
else:
    results_serving = lazy_module("taskcenter.services.results.serving")
    image_proxy = lazy_module("taskcenter.services.midjourney.image_proxy")
    mj_listing = lazy_module("taskcenter.services.midjourney.dashboard_listing")
    mj_relay = lazy_module("taskcenter.services.midjourney.relay")
    task_store = lazy_module("taskcenter.store.tasks")

bp = Blueprint(__name__)

_SUBMIT = {"tables": {"users": "rw", "credentials": "rw", "tasks": "rw", "ledger": "rw", "counters": "rw",
                      "channels": "r", "idempotency": "rw"},
           "queues": {"poll": "send", "refund": "send"}, "secrets": "read", "timeout": 60}
_READ = {"tables": {"users": "r", "credentials": "r", "tasks": "r"}}
_LIST = {"tables": {"users": "r", "credentials": "r", "tasks": "r", "counters": "rw"}}  # page cursors

PERMISSIONS: dict[str, dict[str, Any]] = {
    "submit_mj_imagine": _SUBMIT,
    "submit_mj_action": _SUBMIT,
    "submit_mj_blend": _SUBMIT,
    "submit_mj_describe": _SUBMIT,
    "submit_mj_modal": _SUBMIT,
    "submit_mj_shorten": _SUBMIT,
    "submit_mj_change": _SUBMIT,
    "fetch_mj_task": _READ,
    "list_mj_tasks_by_condition": _READ,
    "get_mj_image": {"tables": {"tasks": "r"}, "results": "read", "timeout": 30},
    "list_mj_self": _LIST,
    "list_mj_all": _LIST,
}


def _relay_principal() -> Principal:
    request = bp.current_request
    return authenticate_relay(header(request, "Authorization"), header(request, "mj-api-secret"))


def public_base_url() -> str:
    """PUBLIC_BASE_URL, else what the request came in on (API Gateway: domain + stage)."""
    return base_url(bp.current_request)


def _submit(kind: str) -> Response:
    principal = _relay_principal()
    request = bp.current_request
    outcome = mj_relay.submit(principal, kind, json_object(request), header(request, IDEMPOTENCY_HEADER))
    return json_response(outcome.value, headers={"Idempotent-Replayed": "true"} if outcome.replayed else None)


# ---------------------------------------------------------------- relay: submit
@bp.route("/mj/submit/imagine", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_imagine() -> Response:
    return _submit("imagine")


@bp.route("/mj/submit/action", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_action() -> Response:
    return _submit("action")


@bp.route("/mj/submit/blend", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_blend() -> Response:
    return _submit("blend")


@bp.route("/mj/submit/describe", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_describe() -> Response:
    return _submit("describe")


@bp.route("/mj/submit/modal", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_modal() -> Response:
    return _submit("modal")


@bp.route("/mj/submit/shorten", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_shorten() -> Response:
    return _submit("shorten")


@bp.route("/mj/submit/change", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_change() -> Response:
    return _submit("change")


# ---------------------------------------------------------------- relay: fetch
@bp.route("/mj/task/{id}/fetch", methods=["GET"])
@guarded("mj")
def fetch_mj_task(id: str) -> Response:  # noqa: A002 - the path parameter's name in the route table
    return json_response(mj_relay.fetch(_relay_principal(), id, public_base_url()))


@bp.route("/mj/task/list-by-condition", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def list_mj_tasks_by_condition() -> Response:
    principal = _relay_principal()
    body = json_object(bp.current_request)
    return json_response(mj_relay.list_by_condition(principal, body, public_base_url()))


# ---------------------------------------------------------------- image forwarding (public, as new-api)
@bp.route("/mj/image/{id}", methods=["GET"])
@guarded("mj")
def get_mj_image(id: str) -> Response:  # noqa: A002 - the path parameter's name in the route table
    task_id = id
    if not settings.get().mj_forward_images:
        return mj_error("image forwarding is disabled on this server (MJ_FORWARD_IMAGES)", 4, 404)
    task = task_store.get(task_id, consistent=False) if len(task_id) <= 64 else None
    if task is None or task.kind != mj_relay.KIND:
        return mj_error(f"task_not_found: task {task_id[:64]} does not exist", 4, 404)
    kept = results_serving.presigned_result(task, "image")
    if kept is not None:  # the kept copy (docs/results.md): a redirect, the bytes never pass through Lambda
        return Response(body="", status_code=302, headers={"Location": kept, "Cache-Control": "private, no-store"})
    image = image_proxy.fetch_image(mj_relay.upstream_image_url(task))
    return Response(body=image.body, status_code=200,
                    headers={"Content-Type": image.content_type, "Cache-Control": "public, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------- dashboard listings
@bp.route("/api/mj/self", methods=["GET"])
@guarded("dashboard")
def list_mj_self() -> Response:
    request = bp.current_request
    principal = authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"))
    return dashboard_ok(mj_listing.list_mj(principal, query(request), public_base_url(), admin=False))


@bp.route("/api/mj", methods=["GET"])
@guarded("dashboard")
def list_mj_all() -> Response:
    request = bp.current_request
    principal = authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"),
                                       admin=True)
    return dashboard_ok(mj_listing.list_mj(principal, query(request), public_base_url(), admin=True))
