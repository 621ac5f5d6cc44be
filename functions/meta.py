"""The API's own description: GET /openapi.json (OpenAPI 3, built from the route table)."""

from __future__ import annotations

from chalice import Blueprint, Response
from taskcenter import settings

from functions._http import guarded, json_response, lazy_module

api_description = lazy_module("taskcenter.api_description")  # loaded by the first call (see lazy_module)

bp = Blueprint(__name__)

PERMISSIONS: dict[str, dict[str, dict[str, str]]] = {"get_openapi": {"tables": {}, "queues": {}}}


@bp.route("/openapi.json", methods=["GET"])
@guarded("meta")
def get_openapi() -> Response:
    from app import app  # the route table is the app's; imported here to avoid a cycle at import time

    base_url = settings.get().public_base_url or "/"
    document = api_description.build(api_description.routes_of(app), base_url, strict=False)
    return json_response(document, headers={"Cache-Control": "public, max-age=300"})
