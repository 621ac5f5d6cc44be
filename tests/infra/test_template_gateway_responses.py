"""API Gateway's answer for a path no route has (issue 14: an unknown /mj/... path deeper than the catch-all
routes must answer in the MJ envelope, not API Gateway's 403 {"message": "Missing Authentication Token"}).

Proved offline, from what CloudFormation deploys (the offline SAM translation of template.yaml):
- the REST API's `x-amazon-apigateway-gateway-responses` set 404, the relay's CORS header and a JSON body for
  both response types API Gateway uses for a request no resource and method match;
- such paths really reach no function: matched against the translated `paths` as API Gateway matches (one
  segment per `{var}`, no greedy variable in the API), a deeper /mj/... path and a missing method match nothing;
- the body template, rendered as API Gateway renders one (simple `$context` substitution, no VTL engine:
  docs "x-amazon-apigateway-gateway-responses.responseTemplates"), is the MJ envelope the app's own catch-all
  (`functions/mj.py: unknown_mj_route`) answers, and reads as the dashboard's error envelope too.
What only a deployment shows (the live answer) is the smoke command in docs/deploy.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.local import cfn
from tests.infra.test_template import sam_translate

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
MISSING_ROUTE_TYPES = {"MISSING_AUTHENTICATION_TOKEN", "RESOURCE_NOT_FOUND"}
# What API Gateway would substitute (a request id of its shape); a template may name any $context variable.
CONTEXT = {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "httpMethod": "GET", "stage": "Prod",
           "path": "/Prod/mj/a/b/c/d/e", "resourcePath": "", "error.responseType": "MISSING_AUTHENTICATION_TOKEN",
           "error.message": "Missing Authentication Token", "error.messageString": '"Missing Authentication Token"'}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return sam_translate(cfn.load_template(TEMPLATE_PATH))


def rest_api_body(translated: dict[str, Any]) -> dict[str, Any]:
    (api,) = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    return api["Properties"]["Body"]


def render(template: str) -> str:
    """A gateway response template as API Gateway renders it: `$context.x` / `${context.x}` substituted, no VTL
    directives (there is no engine to run them, so one would reach the client as text: refused here)."""
    assert not re.search(r"#(if|set|foreach|else|end)\b", template), "gateway response templates get no VTL"

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in CONTEXT, f"unknown $context variable {name}"
        return CONTEXT[name]

    return re.sub(r"\$\{context\.([A-Za-z.]+)\}|\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)", value, template)


def routed(body: dict[str, Any], method: str, path: str) -> bool:
    """Whether API Gateway would hand (method, path) to an integration: a resource whose segments match
    (a `{var}` takes one segment) with that method or ANY."""
    segments = path.strip("/").split("/")
    for template, methods in body["paths"].items():
        parts = template.strip("/").split("/")
        assert not any(p.endswith("+}") for p in parts), "a greedy path variable changes what is unknown"
        matches = len(parts) == len(segments) and all(p == s or (p.startswith("{") and p.endswith("}"))
                                                      for p, s in zip(parts, segments, strict=True))
        if matches and (method.lower() in methods or "x-amazon-apigateway-any-method" in methods):
            return True
    return False


def test_both_missing_route_types_answer_404_with_cors_and_a_json_body(translated: dict[str, Any]) -> None:
    responses = rest_api_body(translated)["x-amazon-apigateway-gateway-responses"]
    assert set(responses) >= MISSING_ROUTE_TYPES
    for kind in MISSING_ROUTE_TYPES:
        response = responses[kind]
        assert response["statusCode"] == "404", kind
        assert response["responseParameters"] == {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}
        assert set(response["responseTemplates"]) == {"application/json"}


def test_deeper_mj_paths_and_missing_methods_reach_no_function(translated: dict[str, Any]) -> None:
    body = rest_api_body(translated)
    assert routed(body, "GET", "/mj/a/b/c/d")  # the app's own catch-all answers up to four segments
    assert routed(body, "POST", "/mj/submit/imagine")
    for method, path in (("GET", "/mj/a/b/c/d/e"), ("POST", "/mj/submit/imagine/x/y/z"),
                         ("GET", "/mj/task/1/fetch/x/y"), ("GET", "/mj-fast/mj/a/b/c/d/e/f"),
                         ("GET", "/nothing/here")):
        assert not routed(body, method, path), (method, path)


def test_the_body_renders_to_the_mj_envelope_of_the_apps_catch_all(translated: dict[str, Any]) -> None:
    from functions._http import mj_error

    responses = rest_api_body(translated)["x-amazon-apigateway-gateway-responses"]
    app_answer = mj_error("no such Midjourney route: GET /mj/a/b/c/d", 4, 404)  # functions/mj.py: unknown_mj_route
    app_body = json.loads(app_answer.body)
    for kind in MISSING_ROUTE_TYPES:
        rendered = json.loads(render(responses[kind]["responseTemplates"]["application/json"]))
        # The MJ envelope: every field the app's own answer has, with its code and type, and the same status.
        assert set(app_body) <= set(rendered), kind
        assert (rendered["code"], rendered["type"]) == (app_body["code"], app_body["type"]) == (4, "upstream_error")
        assert isinstance(rendered["description"], str) and rendered["description"]
        assert int(responses[kind]["statusCode"]) == app_answer.status_code == 404
        # And the dashboard's error envelope (success, message): one body serves every surface's unknown path.
        assert rendered["success"] is False and rendered["message"]
        assert "Missing Authentication Token" not in json.dumps(rendered)
