"""Webhook endpoints of the caller (dashboard auth, new-api envelope) and the webhook queue's consumer
(docs/webhooks.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from taskcenter.observability import flush_metrics
from taskcenter.services.core.auth import Principal, authenticate_dashboard

from functions._http import dashboard_ok, guarded, header, json_object, lazy_module

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter.services.webhooks import endpoints
else:
    endpoints = lazy_module("taskcenter.services.webhooks.endpoints")

bp = Blueprint(__name__)

_AUTH = {"credentials": "r", "users": "r"}
# Read by the template generator (infra/template.py): the tables and queues each function may touch.
PERMISSIONS = {
    "list_webhook_endpoints": {"tables": {**_AUTH, "webhooks": "r"}},
    # Signing secrets are sealed with KMS (services/webhooks/signing_secrets.py): create and rotate seal,
    # only the worker opens (infra/template_kms.py).
    "create_webhook_endpoint": {"tables": {**_AUTH, "webhooks": "rw"}, "kms": "webhook-seal"},
    "update_webhook_endpoint": {"tables": {**_AUTH, "webhooks": "rw"}},
    "rotate_webhook_secret": {"tables": {**_AUTH, "webhooks": "rw"}, "kms": "webhook-seal"},
    "delete_webhook_endpoint": {"tables": {**_AUTH, "webhooks": "rw"}},
    "list_webhook_deliveries": {"tables": {**_AUTH, "webhooks": "r"}},
    "redeliver_webhook": {"tables": {**_AUTH, "webhooks": "rw"}, "queues": {"webhook": "send"}},
    "admin_list_webhook_endpoints": {"tables": {**_AUTH, "webhooks": "r"}},
    "admin_update_webhook_endpoint": {"tables": {**_AUTH, "webhooks": "rw"}},
    "admin_delete_webhook_endpoint": {"tables": {**_AUTH, "webhooks": "rw"}},
    "webhook_worker": {"tables": {"webhooks": "rw"}, "queues": {"webhook": "send"}, "timeout": 60,
                       "kms": "webhook-sign"},
}


def _caller() -> Principal:
    request = bp.current_request
    return authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"))


@bp.route("/api/webhook/self", methods=["GET"])
@guarded("dashboard")
def list_webhook_endpoints() -> Response:
    return dashboard_ok(endpoints.list_endpoints(_caller().user_id))


@bp.route("/api/webhook/self", methods=["POST"])
@guarded("dashboard")
def create_webhook_endpoint() -> Response:
    principal = _caller()
    return dashboard_ok(endpoints.create(principal.user_id, json_object(bp.current_request)))


@bp.route("/api/webhook/self/{endpoint_id}", methods=["PUT"])
@guarded("dashboard")
def update_webhook_endpoint(endpoint_id: str) -> Response:
    principal = _caller()
    return dashboard_ok(endpoints.update(principal.user_id, endpoint_id, json_object(bp.current_request)))


@bp.route("/api/webhook/self/{endpoint_id}/rotate", methods=["POST"])
@guarded("dashboard")
def rotate_webhook_secret(endpoint_id: str) -> Response:
    return dashboard_ok(endpoints.rotate(_caller().user_id, endpoint_id))


@bp.route("/api/webhook/self/{endpoint_id}", methods=["DELETE"])
@guarded("dashboard")
def delete_webhook_endpoint(endpoint_id: str) -> Response:
    return dashboard_ok(endpoints.delete(_caller().user_id, endpoint_id))


@bp.route("/api/webhook/self/{endpoint_id}/deliveries", methods=["GET"])
@guarded("dashboard")
def list_webhook_deliveries(endpoint_id: str) -> Response:
    return dashboard_ok(endpoints.deliveries(_caller().user_id, endpoint_id))


@bp.route("/api/webhook/self/{endpoint_id}/deliveries/{webhook_id}/redeliver", methods=["POST"])
@guarded("dashboard")
def redeliver_webhook(endpoint_id: str, webhook_id: str) -> Response:
    return dashboard_ok(endpoints.redeliver(_caller().user_id, endpoint_id, webhook_id))


def _admin() -> Principal:
    request = bp.current_request
    return authenticate_dashboard(header(request, "Authorization"), header(request, "New-Api-User"), admin=True)


@bp.route("/api/webhook/user/{user_id}", methods=["GET"])
@guarded("dashboard")
def admin_list_webhook_endpoints(user_id: str) -> Response:
    _admin()
    return dashboard_ok(endpoints.list_endpoints(endpoints.user_id_of(user_id)))


@bp.route("/api/webhook/user/{user_id}/{endpoint_id}", methods=["PUT"])
@guarded("dashboard")
def admin_update_webhook_endpoint(user_id: str, endpoint_id: str) -> Response:
    principal = _caller()
    body = json_object(bp.current_request, required=False)  # a malformed body is a 400 for everyone, as elsewhere
    if not principal.is_admin:
        _admin()  # the role refusal in the dashboard's own shape (AUTH_INSUFFICIENT_PRIVILEGE without New-Api-User)
    return dashboard_ok(endpoints.update(endpoints.user_id_of(user_id), endpoint_id, body))


@bp.route("/api/webhook/user/{user_id}/{endpoint_id}", methods=["DELETE"])
@guarded("dashboard")
def admin_delete_webhook_endpoint(user_id: str, endpoint_id: str) -> Response:
    _admin()
    return dashboard_ok(endpoints.delete(endpoints.user_id_of(user_id), endpoint_id))


@bp.on_sqs_message(queue="webhook", batch_size=10, name="webhook_worker")
def webhook_worker(event: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from taskcenter.services.webhooks import delivery

    def handle(record: Any) -> str:
        return delivery.handle(record.body)

    try:
        return process_partial_response(event=event.to_dict(), record_handler=handle,
                                        processor=BatchProcessor(event_type=EventType.SQS), context=event.context)
    finally:
        flush_metrics()
