"""Suno relay (API key): submit, batch fetch, fetch one. new-api compatible (docs/suno.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response
from taskcenter.services.core.auth import Principal, authenticate_relay
from taskcenter.services.core.idempotency import HEADER as IDEMPOTENCY_HEADER

from functions._http import CONTENT_TYPES, base_url, guarded, header, json_object, lazy_module, suno_ok

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter.services.results import serving as results_serving
    from taskcenter.services.suno import relay as suno_relay
else:
    results_serving = lazy_module("taskcenter.services.results.serving")
    suno_relay = lazy_module("taskcenter.services.suno.relay")  # loaded by the first call (cold start: see lazy_module)

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py).
PERMISSIONS = {
    "suno_submit": {
        "tables": {"users": "rw", "credentials": "rw", "channels": "r", "tasks": "rw", "ledger": "rw",
                   "counters": "rw", "idempotency": "rw"},
        "queues": {"poll": "send", "refund": "send"},
        "secrets": "read",  # calls the upstream with the channel's secret
        "timeout": 60,
    },
    "suno_fetch_many": {"tables": {"users": "r", "credentials": "r", "tasks": "r"}},
    "suno_fetch_one": {"tables": {"users": "r", "credentials": "r", "tasks": "r"}},
    "suno_result": {"tables": {"tasks": "r"}, "results": "read"},
}


def _principal() -> Principal:
    """new-api's TokenAuth on every relay route: `Authorization` or `mj-api-secret` (core/auth.relay_key)."""
    request = bp.current_request
    return authenticate_relay(header(request, "Authorization"), header(request, "mj-api-secret"))


@bp.route("/suno/submit/{action}", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("suno")
def suno_submit(action: str) -> Response:
    request = bp.current_request
    principal = _principal()
    outcome = suno_relay.submit(principal, action, json_object(request), header(request, IDEMPOTENCY_HEADER))
    # the upstream's message, verbatim; new-api's header of extra billing ratios (none for Suno)
    reply = suno_ok(outcome.value["task_id"], str(outcome.value.get("message") or ""))
    reply.headers["X-New-Api-Other-Ratios"] = "{}"
    if outcome.replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


@bp.route("/suno/fetch", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("suno")
def suno_fetch_many() -> Response:
    request = bp.current_request
    principal = _principal()
    return suno_ok(suno_relay.fetch_many(principal, json_object(request, required=False), _base_url()))


@bp.route("/suno/fetch/{task_id}", methods=["GET"])
@guarded("suno")
def suno_fetch_one(task_id: str) -> Response:
    principal = _principal()
    return suno_ok(suno_relay.fetch_one(principal, task_id, _base_url()))


@bp.route("/suno/result/{task_id}/{variant}", methods=["GET"])
@guarded("suno")
def suno_result(task_id: str, variant: str) -> Response:
    """A clip's kept file (`0.audio`, `1.image`, ...): a redirect to a short-lived presigned URL of the kept
    copy, or to the upstream's URL while it is not kept (docs/results.md). Public, as the upstream's URLs."""
    task = suno_relay.result_task(task_id)
    if task is None:
        return Response(body={"code": "task_not_exist", "message": "task_not_exist", "data": None}, status_code=404)
    location = results_serving.presigned_result(task, variant) or suno_relay.result_urls(task).get(variant)
    if not location:
        return Response(body={"code": "not_found", "message": f"no result file {variant[:32]!r} for this task",
                              "data": None}, status_code=404)
    return Response(body="", status_code=302, headers={"Location": location, "Cache-Control": "private, no-store"})


def _base_url() -> str:
    return base_url(bp.current_request)
