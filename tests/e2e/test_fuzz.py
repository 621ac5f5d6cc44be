"""Fuzzing the local stack from its own OpenAPI description (issue 7 item 2).

Hypothesis draws requests for every described operation: bodies from the schema and then broken
(wrong types, malformed JSON, non-objects, huge and unicode values, NUL bytes), odd path and query values,
credentials valid, missing, garbage or duplicated. Every answer must be < 500 and JSON in some envelope;
afterwards the ledger audit holds for every seeded user and every task a user can list was charged
exactly once (no partial writes). FUZZ_EXAMPLES sets the number of requests (default 5,000).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import RunningStack

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5000"))

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=4)), max_leaves=12)
NASTY_TEXT = st.sampled_from(["", " ", "\u0000", "😀" * 50, "\u202e" + "abc", "'; DROP TABLE tasks;--", "../../etc",
                              "%00", "x" * 70_000, "1e309", "-1", "0", "NaN", "null", "[]", "{}", "\ud7ff\ue000",
                              "task_" + "A" * 32, "v1_1", "1" * 25])


def _from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for values that satisfy a (small subset of) JSON schema."""
    if "$ref" in schema:
        return _from_schema(components[schema["$ref"].rsplit("/", 1)[1]], components, depth)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and depth < 3:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {k: _from_schema(v, components, depth + 1) for k, v in props.items()}
        return st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                     optional={k: v for k, v in fields.items() if k not in required})
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {}), components, depth + 1),
                        min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 5), 5))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -5), max_value=schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(min_value=0, max_value=1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.one_of(st.text(max_size=30), NASTY_TEXT)
    return JSON_VALUES


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in sorted(document["paths"].items())
            for method, op in sorted(ops.items())]


def _credentials(stack: RunningStack, path: str, mode: str) -> list[tuple[str, str]]:
    demo = stack.demo
    if mode == "none":
        return []
    if mode == "garbage":
        return [("Authorization", "Bearer \u00e9\u0000garbage"), ("New-Api-User", "abc")]
    if path.startswith("/api/") and not path.startswith("/api/v1/"):
        valid = [("Authorization", f"Bearer {demo.access_token}"), ("New-Api-User", str(demo.user_id))]
    elif path.startswith("/api/v1/"):
        valid = [("Authorization", f"Bearer {demo.access_token}")]
    else:
        valid = [("Authorization", f"Bearer {demo.api_key}")]
    if mode == "duplicated":
        return valid + [("Authorization", f"Bearer {stack.admin.api_key}")]
    return valid


@st.composite
def fuzz_requests(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    components = document["components"]["schemas"]
    method, path, op = draw(st.sampled_from(_operations(document)))
    concrete = path
    for param in [p for p in op.get("parameters", []) if p["in"] == "path"]:
        value = draw(st.one_of(st.text(min_size=1, max_size=20), NASTY_TEXT.filter(bool), st.just("1")))
        concrete = concrete.replace("{" + param["name"] + "}", urllib.parse.quote(value[:2000], safe=""))
    query: dict[str, str] = {}
    for param in [p for p in op.get("parameters", []) if p["in"] == "query"]:
        if draw(st.booleans()):
            good = draw(_from_schema(param["schema"], components))
            query[param["name"]] = str(draw(st.one_of(st.just(good), NASTY_TEXT, st.text(max_size=10))))[:3000]
    if query:
        concrete += "?" + urllib.parse.urlencode(query)
    body: bytes | None = None
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    body_mode = draw(st.sampled_from(["schema", "schema", "wrong-types", "malformed", "non-object", "empty", "huge"]))
    if content or method in {"POST", "DELETE"}:
        if body_mode == "schema" and content:
            body = json.dumps(draw(_from_schema(content["schema"], components))).encode()
        elif body_mode == "wrong-types" and content:
            props = components.get(content["schema"].get("$ref", "").rsplit("/", 1)[-1], {}).get("properties", {})
            body = json.dumps({k: draw(JSON_VALUES) for k in props}).encode()
        elif body_mode == "malformed":
            body = draw(st.sampled_from([b"{", b"{\"prompt\": }", b"\xff\xfe\x00", b"{'a': 1}", b"nul", b"[1,"]))
        elif body_mode == "non-object":
            body = json.dumps(draw(st.one_of(st.lists(JSON_SCALARS, max_size=3), JSON_SCALARS))).encode()
        elif body_mode == "huge":
            body = json.dumps({"prompt": "\u4e2d" * 200_000, "ids": ["x"] * 5000}).encode()
        elif body_mode == "empty":
            body = b""
    mode = draw(st.sampled_from(["valid", "valid", "valid", "none", "garbage", "duplicated"]))
    return {"method": method, "path": concrete, "body": body, "mode": mode, "template": path,
            "content_type": draw(st.sampled_from(["application/json", "application/json", "text/plain", None]))}


def _send(stack: RunningStack, request: dict[str, Any]) -> tuple[int, bytes]:
    url = urllib.parse.urlsplit(stack.api_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest(request["method"], request["path"], skip_accept_encoding=True)
        for name, value in _credentials(stack, request["template"], request["mode"]):
            conn.putheader(name, value.encode("utf-8", "surrogatepass"))
        if request["content_type"]:
            conn.putheader("Content-Type", request["content_type"])
        body = request["body"]
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body or None)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def document(local_stack: RunningStack) -> dict[str, Any]:
    status, doc = local_stack.get("/openapi.json")
    assert status == 200
    return doc


def test_fuzzed_requests_never_get_a_5xx_and_leave_money_consistent(
        local_stack: RunningStack, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[int, int] = {}
    failures: list[str] = []

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[__import__("hypothesis").Phase.generate])
    @given(fuzz_requests(document))
    def one_request(request: dict[str, Any]) -> None:
        status, raw = _send(local_stack, request)
        seen[status] = seen.get(status, 0) + 1
        if status >= 500:
            failures.append(f"{status} {request['method']} {request['path'][:200]} mode={request['mode']} "
                            f"body={(request['body'] or b'')[:200]!r} -> {raw[:300]!r}")
        elif request["template"] != "/mj/image/{id}" or status != 200:
            json.loads(raw or b"null")  # every refusal is JSON in some surface's envelope

    one_request()
    print(f"fuzz: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= FUZZ_EXAMPLES * 0.95
    assert not failures, f"{len(failures)} responses were 5xx:\n" + "\n".join(failures[:20])

    local_stack.use_env(monkeypatch)
    from taskcenter.store import money
    from taskcenter.store.models import LedgerEntry, Task

    for account in (local_stack.demo, local_stack.admin):
        audit = money.audit_user(account.user_id)
        assert audit.ok, f"ledger audit failed for user {account.user_id}: {audit}"
        charged = {e.task_id for e in LedgerEntry.query(account.user_id) if e.kind == "charge"}
        for index in ("user_time",):
            for kind in ("task", "mj"):
                for task in getattr(Task, index).query(f"u#{account.user_id}#{kind}"):
                    assert int(task.quota) == 0 or task.task_id in charged, f"task {task.task_id} never charged"
