"""The OpenAPI description covers exactly the app's routes, resolves every $ref, is served, and is shipped."""

from __future__ import annotations

import json
from typing import Any

import pytest


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_description_matches_the_route_table_one_to_one() -> None:
    from taskcenter import api_description

    from app import app

    routes = api_description.routes_of(app)
    document = api_description.build(routes)  # strict: raises DescriptionDrift on any difference
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert described == set(routes)
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(part[1:-1] for part in path.split("/") if part.startswith("{")), (method, path)
            assert "500" in op["responses"] or op["tags"] == ["meta"], (method, path)


def test_a_route_without_a_description_is_drift() -> None:
    from taskcenter import api_description

    with pytest.raises(api_description.DescriptionDrift):
        api_description.build([("GET", "/api/user/self"), ("GET", "/undocumented")])


def test_shipped_document_is_current() -> None:
    from infra.openapi import OUTPUT, render

    assert OUTPUT.exists(), "docs/openapi.json missing: run make openapi"
    assert OUTPUT.read_text(encoding="utf-8") == render(), "docs/openapi.json is stale: run make openapi"


def test_served_at_openapi_json(aws: dict[str, str]) -> None:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        response = client.http.get("/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.body)
    assert document["openapi"].startswith("3.") and "/api/user/self" in document["paths"]
