"""template.yaml carries CORS and the relay's routes (issue 14): a preflight (OPTIONS) for every relay and
dashboard path, none for Task API v1; the dashboard's origins as a parameter; the mode-prefixed twins and
new routes; unknown paths answered 404 in a body the MJ and dashboard clients both read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.local import cfn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(ROOT / "template.yaml")


def _api_events(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    out = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "Api":
                out[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = name
    return out


def test_every_relay_and_dashboard_path_has_a_preflight_and_v1_none(template: dict[str, Any]) -> None:
    events = _api_events(template)
    paths = {path for _, path in events}
    relay = {p for p in paths if p.startswith(("/mj", "/suno", "/{mode}/mj"))}
    dashboard = {p for p in paths if p.startswith("/api/") and not p.startswith("/api/v1/")}
    assert relay and dashboard
    for path in relay | dashboard:
        assert events.get(("OPTIONS", path)) == "CorsPreflightFunction", path
    assert not [p for p in paths if p.startswith("/api/v1/") and ("OPTIONS", p) in events]
    preflight = template["Resources"]["CorsPreflightFunction"]["Properties"]
    assert not preflight.get("Policies")  # it reads nothing


def test_dashboard_origins_are_a_parameter(template: dict[str, Any]) -> None:
    assert template["Parameters"]["DashboardCorsOrigins"]["Default"] == ""
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    given = [{**shared, **res["Properties"].get("Environment", {}).get("Variables", {})}
             for res in template["Resources"].values() if res["Type"] == "AWS::Serverless::Function"]
    readers = [env for env in given if "DASHBOARD_CORS_ORIGINS" in env]  # settings per function (configuration.md)
    assert readers and all(env["DASHBOARD_CORS_ORIGINS"] == {"Ref": "DashboardCorsOrigins"} for env in readers)


def test_relay_routes_modes_and_missing_route_response(template: dict[str, Any]) -> None:
    events = _api_events(template)
    for path in ("/mj/submit/simple-change", "/mj/submit/edits", "/mj/submit/video", "/mj/insight-face/swap"):
        assert ("POST", path) in events and events[("POST", "/{mode}" + path)] == events[("POST", path)]
    assert ("GET", "/mj/task/{id}/image-seed") in events
    missing = template["Globals"]["Api"]["GatewayResponses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == 404
    assert missing["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == "'*'"
    body = json.loads(missing["ResponseTemplates"]["application/json"])
    assert body["code"] == 4 and body["type"] == "upstream_error" and body["success"] is False
