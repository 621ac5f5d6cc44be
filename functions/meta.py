"""The API's own description: GET /openapi.json (OpenAPI 3, built from the route table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response
from taskcenter import settings

from functions._http import current_app, guarded, json_response, lazy_module

if TYPE_CHECKING:  # what the lazy_module names below stand for (loaded by the first call: cold start)
    from taskcenter import api_description
else:
    api_description = lazy_module("taskcenter.api_description")  # loaded by the first call (see lazy_module)

bp = Blueprint(__name__)

PERMISSIONS: dict[str, dict[str, dict[str, str]]] = {"get_openapi": {"tables": {}, "queues": {}}}


@bp.route("/openapi.json", methods=["GET"])
@guarded("meta")
def get_openapi() -> Response:
    app = current_app()  # the route table is the app's (app.py binds it)

    base_url = settings.get().public_base_url or "/"
    document = api_description.build(api_description.routes_of(app), base_url, strict=False)
    return json_response(document, headers={"Cache-Control": "public, max-age=300"})
