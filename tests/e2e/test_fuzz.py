"""Fuzzing the local stack from its own OpenAPI description (issue 7 item 2).

Hypothesis draws requests for every described operation: bodies from the schema and then broken
(wrong types, malformed JSON, non-objects, huge and unicode values, NUL bytes), odd path and query values,
credentials valid, missing, garbage or duplicated. Every answer must be < 500 and JSON in some envelope;
afterwards the ledger audit holds for every seeded user and every task a user can list was charged
exactly once (no partial writes). FUZZ_EXAMPLES sets the number of requests (default 5,000).

Issue 12's inputs (items 11-14) are strategies of their own, and a second test sends each of them to every
operation once: numbers in Unicode digits ("²", "٣") in paths, queries and New-Api-User; JSON nested
100,000 deep; oversized text fields (250,000 ASCII or 40,000 CJK characters, under the body cap);
non-finite and huge numbers (NaN, Infinity, 1e309, 400-digit integers).
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

# 1,500 in the suite (its time budget); `FUZZ_EXAMPLES=5000` for the deep run of the README
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=4)), max_leaves=12)
NASTY_TEXT = st.sampled_from(["", " ", "\u0000", "😀" * 50, "\u202e" + "abc", "'; DROP TABLE tasks;--", "../../etc",
                              "%00", "x" * 70_000, "1e309", "-1", "0", "NaN", "null", "[]", "{}", "\ud7ff\ue000",
                              "task_" + "A" * 32, "v1_1", "1" * 25])

# Issue 12 items 11-14.
UNICODE_DIGITS = st.sampled_from(["\u00b2", "\u0663", "\u0661\u0662", "1\u00b2", "-\u00b2", "\uff11", "\u2460",
                                  "\u0968", "\u0663:00"])
DEEP_JSON = st.sampled_from([b"[" * 100_000, b'{"a":' * 50_000, b"[" * 33 + b"]" * 33,
                             b'{"prompt": "x", "ids": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"])
NON_FINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e309", "-1e400", "1" * 400, "9" * 5000, "1" * 39])
BIG_TEXT = st.sampled_from(["a" * 250_000, "\u4e2d" * 40_000, "\U0001f600" * 8_000, "a" * 5_001, "x" * 3_001])


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
    if mode.startswith("unicode-user:"):  # a valid token, New-Api-User in Unicode digits (issue 12 item 11)
        return [("Authorization", f"Bearer {demo.access_token}"), ("New-Api-User", mode.split(":", 1)[1])]
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
        value = draw(st.one_of(st.text(min_size=1, max_size=20), NASTY_TEXT.filter(bool), st.just("1"),
                               UNICODE_DIGITS))
        concrete = concrete.replace("{" + param["name"] + "}", urllib.parse.quote(value[:2000], safe=""))
    query: dict[str, str] = {}
    for param in [p for p in op.get("parameters", []) if p["in"] == "query"]:
        if draw(st.booleans()):
            good = draw(_from_schema(param["schema"], components))
            query[param["name"]] = str(draw(st.one_of(st.just(good), NASTY_TEXT, st.text(max_size=10),
                                                      UNICODE_DIGITS)))[:3000]
    if query:
        concrete += "?" + urllib.parse.urlencode(query)
    body: bytes | None = None
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    body_mode = draw(st.sampled_from(["schema", "schema", "wrong-types", "malformed", "non-object", "empty", "huge",
                                      "deep", "non-finite", "big-field"]))
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
        elif body_mode == "deep":
            body = draw(DEEP_JSON)
        elif body_mode in ("non-finite", "big-field"):
            fields = _body_fields(content, components) or ["prompt"]
            valid = draw(_from_schema(content["schema"], components)) if content else {}
            name = draw(st.sampled_from(fields))
            raw_value = draw(NON_FINITE) if body_mode == "non-finite" else json.dumps(draw(BIG_TEXT),
                                                                                         ensure_ascii=False)
            body = _with_raw_field(valid if isinstance(valid, dict) else {}, name, raw_value)
        elif body_mode == "empty":
            body = b""
    mode = draw(st.sampled_from(["valid", "valid", "valid", "none", "garbage", "duplicated", "unicode-user"]))
    if mode == "unicode-user":
        mode += ":" + draw(UNICODE_DIGITS)
    return {"method": method, "path": concrete, "body": body, "mode": mode, "template": path,
            "content_type": draw(st.sampled_from(["application/json", "application/json", "text/plain", None]))}


def _body_fields(content: dict[str, Any] | None, components: dict[str, Any]) -> list[str]:
    if not content:
        return []
    schema = content["schema"]
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


def _with_raw_field(body: dict[str, Any], name: str, raw_value: str) -> bytes:
    """`body` as JSON with `name` set to the raw JSON text `raw_value` (which json.dumps cannot write)."""
    rest = json.dumps({k: v for k, v in body.items() if k != name}, ensure_ascii=False)[1:-1]
    return ("{" + json.dumps(name) + ": " + raw_value + (", " + rest if rest else "") + "}").encode()


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
                keys = [row.task_id for row in getattr(Task, index).query(f"u#{account.user_id}#{kind}")]
                for task in (Task.batch_get(keys) if keys else []):  # the index holds keys only
                    assert int(task.quota) == 0 or task.task_id in charged, f"task {task.task_id} never charged"


def _request(method: str, template: str, path: str, has_body: bool, body: bytes | None = None,
             mode: str = "valid") -> dict[str, Any]:
    if body is None and (has_body or method in {"POST", "DELETE"}):
        body = b"{}"
    return {"method": method, "path": path, "body": body, "mode": mode, "template": template,
            "content_type": "application/json"}


def _hostile_requests(document: dict[str, Any]) -> list[tuple[dict[str, Any], int | None]]:
    """Every operation x every input of issue 12 items 11-14, each with the status it must get (None: any 4xx)."""
    components = document["components"]["schemas"]
    out: list[tuple[dict[str, Any], int | None]] = []
    for method, template, op in _operations(document):
        if method == "OPTIONS":
            continue  # CORS preflights take no credentials and read no input (issue 14)
        params = op.get("parameters", [])
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        path_names = [p["name"] for p in params if p["in"] == "path"]
        valid_path = template
        for name in path_names:  # a mode prefix is mj-<letters> (issue 14); any other is a 404 before the body
            valid_path = valid_path.replace("{" + name + "}", "mj-fast" if name == "mode" else "1")
        for digit in ("\u00b2", "\u0663", "\uff11"):  # item 11
            quoted = urllib.parse.quote(digit, safe="")
            if path_names:
                concrete = template
                for name in path_names:
                    concrete = concrete.replace("{" + name + "}", quoted)
                out.append((_request(method, template, concrete, bool(content)), None))
            for param in [p for p in params if p["in"] == "query"
                          and p.get("schema", {}).get("type") in ("integer", "number")]:  # text filters take any text
                out.append((_request(method, template, f"{valid_path}?{param['name']}={quoted}", bool(content)),
                            None))
            if template.startswith("/api/") and not template.startswith("/api/v1/"):
                out.append((_request(method, template, valid_path, bool(content), mode=f"unicode-user:{digit}"), 401))
        if not content:
            continue
        for deep in (b"[" * 100_000, b'{"a":' * 50_000, b"[" * 33 + b"]" * 33):  # item 12
            out.append((_request(method, template, valid_path, True, deep), 400))
        for name in _body_fields(content, components):
            for raw_value in ("NaN", "Infinity", "-Infinity", "1e309", "1" * 400):  # item 14
                out.append((_request(method, template, valid_path, True, _with_raw_field({}, name, raw_value)), 400))
            for text in ("a" * 250_000, "\u4e2d" * 40_000):  # item 13
                raw = _with_raw_field({}, name, json.dumps(text, ensure_ascii=False))
                out.append((_request(method, template, valid_path, True, raw), None))
    return out


def test_every_operation_refuses_the_inputs_of_issue_12(local_stack: RunningStack, document: dict[str, Any]) -> None:
    """Deterministic: each input of items 11-14 sent once to every described operation; all are 4xx (the
    expected status where one is certain), never a 5xx."""
    wrong: list[str] = []
    cases = _hostile_requests(document)
    for request, expected in cases:
        status, raw = _send(local_stack, request)
        if (expected is not None and status != expected) or not 400 <= status < 500:
            wrong.append(f"{status} (want {expected or '4xx'}) {request['method']} {request['path'][:120]} "
                         f"mode={request['mode']} body={(request['body'] or b'')[:80]!r} -> {raw[:200]!r}")
        json.loads(raw or b"null")
    print(f"issue 12 inputs: {len(cases)} requests, {len(wrong)} unexpected")
    assert not wrong, f"{len(wrong)} of {len(cases)} answers were not the expected 4xx:\n" + "\n".join(wrong[:30])
