"""Every Api event of template.yaml reaches its view when Lambda calls `app.app` with an API Gateway (REST, proxy)
event for that path and method: no Chalice-level "unknown request", 405 or 415. Requests carry no credentials,
so views answer in their own envelopes (mostly 401); what is checked here is the dispatch the template relies on.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

from infra.local import cfn

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DISPATCH_ERRORS = {"MethodNotAllowedError", "UnsupportedMediaType", "InternalServerError"}


class _Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def proxy_event(path: str, method: str) -> dict[str, Any]:
    """An API Gateway REST proxy event as Lambda receives it for `path` (a resource path with {params})."""
    params = {name: "1" for name in re.findall(r"{(\w+)\+?}", path)}
    concrete = re.sub(r"{(\w+)\+?}", "1", path)
    host = "abc.execute-api.us-east-1.amazonaws.com"
    # BinaryMediaTypes */*: API Gateway hands every request body to Lambda base64-encoded
    body = base64.b64encode(b"{}").decode() if method in {"POST", "PUT", "PATCH"} else None
    return {
        "resource": path, "path": concrete, "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": host},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Host": [host]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "Prod", "path": f"/Prod{concrete}",
                           "requestId": str(uuid.uuid4()), "domainName": host,
                           "identity": {"sourceIp": "203.0.113.9"}},
        "body": body, "isBase64Encoded": body is not None,
    }


def test_every_api_event_of_the_template_dispatches_to_a_view(aws):
    from app import app

    template = cfn.load_template(ROOT / "template.yaml")
    failures = []
    checked = 0
    for logical_id, props in cfn.resources_of(template, "AWS::Serverless::Function").items():
        if props["Handler"] != "app.app":
            continue
        for event in (props.get("Events") or {}).values():
            path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
            reply = app(proxy_event(path, method), _Context())
            checked += 1
            body = reply.get("body") or ""
            try:
                parsed = json.loads(body) if not reply.get("isBase64Encoded") else {}
            except ValueError:
                parsed = {}
            code = parsed.get("Code") if isinstance(parsed, dict) else None
            if code in CHALICE_DISPATCH_ERRORS or reply["statusCode"] == 405:
                failures.append(f"{logical_id}: {method} {path} -> {reply['statusCode']} {body[:200]}")
    assert checked > 0
    assert not failures, "\n".join(failures)
