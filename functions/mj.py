"""Midjourney: the relay (midjourney-proxy protocol, API key) and the dashboard listings (/api/mj).

docs/midjourney.md describes the surface; the rules live in taskcenter.services.midjourney: relay,
dashboard_listing and image_proxy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from taskcenter import settings
from taskcenter.domain import states
from taskcenter.domain.errors import NotFound
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
    lambda_body_limit,
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
    "submit_mj_simple_change": _SUBMIT,
    "submit_mj_edits": _SUBMIT,
    "submit_mj_video": _SUBMIT,
    "submit_mj_swap_face": _SUBMIT,
    "submit_mj_upload": {"tables": {"users": "r", "credentials": "r", "channels": "r"}, "secrets": "read",
                         "timeout": 60},
    "fetch_mj_task": _READ,
    "get_mj_image_seed": {"tables": {"users": "r", "credentials": "r", "tasks": "r", "channels": "r"},
                          "secrets": "read", "timeout": 30},
    "list_mj_tasks_by_condition": {**_READ, "timeout": 30},  # up to what one reply carries (views.most_ids)
    "get_mj_image": {"tables": {"tasks": "r"}, "results": "read", "timeout": 30},
    "unknown_mj_route": {"tables": {}},
    "list_mj_self": _LIST,
    "list_mj_all": _LIST,
}
# new-api serves every relay route under /mj and under /:mode/mj (/mj-fast, /mj-relax, /mj-turbo): the mode is
# a routing alias its upstream never sees (newapi-relay-wire.md 3.1). Same here: same function, same upstream call.
MODE_PREFIX = "/{mode}"
_MODE = re.compile(r"^mj-[a-z]{1,16}$")


def _relay_routes(path: str, methods: list[str], **kwargs: Any) -> Callable[[Callable[..., Response]],
                                                                           Callable[..., Response]]:
    """`path` and its mode-prefixed twin, on one view function."""
    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        bp.route(MODE_PREFIX + path, methods=methods, **kwargs)(view)
        return bp.route(path, methods=methods, **kwargs)(view)

    return register


def _check_mode(mode: str | None) -> None:
    if mode is not None and not _MODE.match(mode):
        raise NotFound(f"no route /{mode[:40]}/mj/...: a mode prefix is mj-fast, mj-relax or mj-turbo")


def _relay_principal() -> Principal:
    request = bp.current_request
    return authenticate_relay(header(request, "Authorization"), header(request, "mj-api-secret"))


def public_base_url() -> str:
    """PUBLIC_BASE_URL, else what the request came in on (API Gateway: domain + stage)."""
    return base_url(bp.current_request)


def _submit(kind: str, mode: str | None) -> Response:
    _check_mode(mode)
    principal = _relay_principal()
    request = bp.current_request
    # Images make MJ bodies megabytes: the cap is what API Gateway + Lambda can carry (functions._http).
    body = json_object(request, max_bytes=lambda_body_limit(request))
    outcome = mj_relay.submit(principal, kind, body, header(request, IDEMPOTENCY_HEADER), public_base_url())
    value = dict(outcome.value)
    status = int(value.pop(mj_relay.REPLY_STATUS, 200))  # an upstream's non-2xx, relayed as new-api does
    return json_response(value, status, headers={"Idempotent-Replayed": "true"} if outcome.replayed else None)


# ---------------------------------------------------------------- relay: submit
@_relay_routes("/mj/submit/imagine", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_imagine(mode: str | None = None) -> Response:
    return _submit("imagine", mode)


@_relay_routes("/mj/submit/action", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_action(mode: str | None = None) -> Response:
    return _submit("action", mode)


@_relay_routes("/mj/submit/blend", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_blend(mode: str | None = None) -> Response:
    return _submit("blend", mode)


@_relay_routes("/mj/submit/describe", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_describe(mode: str | None = None) -> Response:
    return _submit("describe", mode)


@_relay_routes("/mj/submit/modal", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_modal(mode: str | None = None) -> Response:
    return _submit("modal", mode)


@_relay_routes("/mj/submit/shorten", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_shorten(mode: str | None = None) -> Response:
    return _submit("shorten", mode)


@_relay_routes("/mj/submit/change", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_change(mode: str | None = None) -> Response:
    return _submit("change", mode)


@_relay_routes("/mj/submit/simple-change", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_simple_change(mode: str | None = None) -> Response:
    return _submit("simple-change", mode)


@_relay_routes("/mj/submit/edits", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_edits(mode: str | None = None) -> Response:
    return _submit("edits", mode)


@_relay_routes("/mj/submit/video", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_video(mode: str | None = None) -> Response:
    return _submit("video", mode)


@_relay_routes("/mj/insight-face/swap", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_swap_face(mode: str | None = None) -> Response:
    return _submit("swap", mode)


@_relay_routes("/mj/submit/upload-discord-images", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def submit_mj_upload(mode: str | None = None) -> Response:
    _check_mode(mode)
    principal = _relay_principal()
    request = bp.current_request
    return json_response(mj_relay.upload(principal, json_object(request, max_bytes=lambda_body_limit(request))))


# ---------------------------------------------------------------- relay: fetch
@_relay_routes("/mj/task/{id}/fetch", methods=["GET"])
@guarded("mj")
def fetch_mj_task(id: str, mode: str | None = None) -> Response:  # noqa: A002 - the route's parameter name
    _check_mode(mode)
    return json_response(mj_relay.fetch(_relay_principal(), id, public_base_url()))


@_relay_routes("/mj/task/{id}/image-seed", methods=["GET"])
@guarded("mj")
def get_mj_image_seed(id: str, mode: str | None = None) -> Response:  # noqa: A002 - the route's parameter name
    _check_mode(mode)
    return json_response(mj_relay.image_seed(_relay_principal(), id))


@_relay_routes("/mj/task/list-by-condition", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("mj")
def list_mj_tasks_by_condition(mode: str | None = None) -> Response:
    _check_mode(mode)
    principal = _relay_principal()
    request = bp.current_request
    body = json_object(request, max_bytes=lambda_body_limit(request))
    return json_response(mj_relay.list_by_condition(principal, body, public_base_url()))


# ---------------------------------------------------------------- image forwarding (public, as new-api)
@_relay_routes("/mj/image/{id}", methods=["GET"])
@guarded("mj")
def get_mj_image(id: str, mode: str | None = None) -> Response:  # noqa: A002 - the route's parameter name
    _check_mode(mode)
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
    # A preview changes until SUCCESS (the relay adds ?rand=... to its URL meanwhile): cache only the final image.
    cache = "public, max-age=86400" if task.status == states.SUCCESS else "no-store"
    return Response(body=image.body, status_code=200,
                    headers={"Content-Type": image.content_type, "Cache-Control": cache,
                             "X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------- unknown /mj/... paths: the MJ envelope
_UNKNOWN_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@bp.route("/mj/{a}", methods=_UNKNOWN_METHODS, content_types=CONTENT_TYPES)
@bp.route("/mj/{a}/{b}", methods=_UNKNOWN_METHODS, content_types=CONTENT_TYPES)
@bp.route("/mj/{a}/{b}/{c}", methods=_UNKNOWN_METHODS, content_types=CONTENT_TYPES)
@bp.route("/mj/{a}/{b}/{c}/{d}", methods=_UNKNOWN_METHODS, content_types=CONTENT_TYPES)
@guarded("mj")
def unknown_mj_route(**_parts: str) -> Response:
    request = bp.current_request
    return mj_error(f"no such Midjourney route: {request.method} {request.path[:200]}", 4, 404)


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
