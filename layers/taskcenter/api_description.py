"""OpenAPI 3 description of the three surfaces (issue 7 item 1).

Paths and methods come from the Chalice app's route table (`build(routes)`), and every route must have
an entry in OPERATIONS: a route without one, or an entry without a route, is an error, so the description
cannot drift from the app (tests/infra/test_openapi.py). Each surface documents its own envelopes, as
clients of new-api, midjourney-proxy and TikMatrix expect them.
"""

from __future__ import annotations

from typing import Any

from taskcenter import api_description_webhooks

VERSION = "1.0.0"

STATUSES = ["NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "FAILURE", "SUCCESS", "UNKNOWN"]
MJ_STATUSES = ["NOT_START", "SUBMITTED", "MODAL", "IN_PROGRESS", "FAILURE", "SUCCESS"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
B = {"type": "boolean"}
ANY_OBJ = {"type": "object", "additionalProperties": True}

SCHEMAS: dict[str, Any] = {
    # ---------------------------------------------------------------- dashboard
    "DashboardError": _obj({"success": {"type": "boolean", "enum": [False]}, "message": S}, ["success", "message"]),
    "UserSelf": _obj({"id": I, "username": S, "display_name": S, "role": I, "status": I, "group": S,
                      "quota": I, "used_quota": I, "request_count": I}, ["id", "username", "role", "quota"]),
    "Task": _obj({
        "id": I, "created_at": I, "updated_at": I, "task_id": S, "platform": S, "user_id": I,
        "channel_id": {**I, "description": "admin listing only (0 for users)"},
        "username": {**S, "description": "admin listing only: the owner"}, "quota": I, "action": S,
        "status": {"type": "string", "enum": STATUSES}, "fail_reason": S, "submit_time": I, "start_time": I,
        "finish_time": I, "progress": S, "properties": ANY_OBJ, "data": {},
    }, ["id", "task_id", "platform", "user_id", "quota", "action", "status", "submit_time", "progress"]),
    "MjTask": _obj({
        "id": I, "user_id": I, "channel_id": I, "mj_id": S, "action": S, "prompt": S, "prompt_en": S,
        "status": S, "progress": S, "image_url": S, "video_url": S, "video_urls": S, "submit_time": I,
        "start_time": I, "finish_time": I, "fail_reason": S, "quota": I,
    }, ["id", "mj_id", "action", "status", "progress", "submit_time", "quota"]),
    # ---------------------------------------------------------------- Suno relay
    # maxLength: the largest model's limits (v4.5+); older models allow less (docs/suno.md, "Limits and storage")
    "SunoSubmit": _obj({"prompt": {**S, "maxLength": 5000}, "gpt_description_prompt": {**S, "maxLength": 500},
                        "mv": {**S, "maxLength": 64}, "title": {**S, "maxLength": 100},
                        "tags": {**S, "maxLength": 1000},
                        "continue_at": {"type": "number", "minimum": 0, "maximum": 3600},
                        "continue_clip_id": {**S, "maxLength": 128}, "make_instrumental": B}),
    "SunoError": _obj({"code": S, "message": S, "data": {"nullable": True}}, ["code", "message", "data"]),
    "SunoTask": _obj({"task_id": S, "action": S, "status": S, "fail_reason": S, "submit_time": I,
                      "start_time": I, "finish_time": I, "progress": S, "data": {}}, ["task_id", "status"]),
    "IdList": _obj({"ids": {"type": "array", "items": S, "maxItems": 100}}, ["ids"]),
    # ---------------------------------------------------------------- Midjourney relay
    "MjSubmitReply": _obj({"code": I, "description": S, "result": S, "properties": ANY_OBJ},
                          ["code", "description"]),
    "MjError": _obj({"description": S, "type": S, "code": I}, ["description", "type", "code"]),
    "MjButton": _obj({"customId": S, "emoji": S, "label": S, "type": I, "style": I}),
    "MjProxyTask": _obj({
        "id": S, "action": S, "prompt": S, "promptEn": S, "description": S, "state": S, "submitTime": I,
        "startTime": I, "finishTime": I, "imageUrl": S, "status": {"type": "string", "enum": MJ_STATUSES + [""]},
        "progress": S, "failReason": S, "buttons": {"type": "array", "items": _ref("MjButton")},
        "properties": ANY_OBJ,
    }, ["id", "action", "status"]),
    "MjImagine": _obj({"prompt": S, "base64Array": {"type": "array", "items": S}, "botType": S,
                       "notifyHook": S, "state": S}, ["prompt"]),
    "MjAction": _obj({"taskId": S, "customId": S, "notifyHook": S, "state": S}, ["taskId", "customId"]),
    "MjChange": _obj({"taskId": S, "action": {"type": "string", "enum": ["UPSCALE", "VARIATION", "REROLL"]},
                      "index": {"type": "integer", "minimum": 1, "maximum": 4}, "notifyHook": S, "state": S},
                     ["taskId", "action"]),
    "MjBlend": _obj({"base64Array": {"type": "array", "items": S, "minItems": 2, "maxItems": 5},
                     "dimensions": {"type": "string", "enum": ["PORTRAIT", "SQUARE", "LANDSCAPE"]},
                     "botType": S, "notifyHook": S, "state": S}, ["base64Array"]),
    "MjDescribe": _obj({"base64": S, "botType": S, "notifyHook": S, "state": S}, ["base64"]),
    "MjModal": _obj({"taskId": S, "prompt": S, "maskBase64": S, "notifyHook": S, "state": S}, ["taskId"]),
    "MjShorten": _obj({"prompt": S, "botType": S, "notifyHook": S, "state": S}, ["prompt"]),
    # ---------------------------------------------------------------- Task API v1
    "V1Error": _obj({"code": {"type": "integer", "description": "40001 bad parameters, 40002 missing script_name, "
                              "40003 script not supported, 40101 unauthenticated, 40301 plan without API access, "
                              "40401 not found, 50001 internal"},
                     "message": S, "data": {"nullable": True}}, ["code", "message"]),
    "V1Create": _obj({
        "serials": {"type": "array", "items": S}, "usernames": {"type": "array", "items": S}, "script_name": S,
        "script_config": ANY_OBJ, "enable_multi_account": B,
        "start_time": {"type": "string", "description": "HH:MM in the user's time zone, or ISO-8601"},
    }, ["script_name", "script_config"]),
    "V1Task": _obj({"id": I, "serial": S, "username": S, "script_name": S, "script_config": ANY_OBJ,
                    "status": {"type": "integer", "enum": [0, 1, 2, 3]}, "source": S}, ["id", "status"]),
    "V1TaskIds": _obj({"task_ids": {"type": "array", "items": I, "maxItems": 1000}}, ["task_ids"]),
}


def _envelope(surface: str, data: dict[str, Any]) -> dict[str, Any]:
    if surface == "dashboard":
        return _obj({"success": {"type": "boolean"}, "message": S, "data": data}, ["success", "message", "data"])
    if surface == "suno":
        return _obj({"code": S, "message": S, "data": data}, ["code", "message", "data"])
    if surface == "v1":
        return _obj({"code": {"type": "integer", "enum": [0]}, "message": S, "data": data}, ["code", "message", "data"])
    return data


def _page(item: str) -> dict[str, Any]:
    return _obj({"items": {"type": "array", "items": _ref(item)}, "total": I, "page": I, "page_size": I},
                ["items", "total", "page", "page_size"])


ERROR_SCHEMA = {"dashboard": "DashboardError", "suno": "SunoError", "mj": "MjError", "v1": "V1Error"}
SECURITY = {
    "dashboard": [{"accessToken": [], "newApiUser": []}],
    "suno": [{"apiKey": []}],
    "mj": [{"apiKey": []}, {"mjApiSecret": []}],
    "v1": [{"apiKey": []}],
}


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGE_PARAMS = [_q("p", {"type": "integer", "minimum": 1, "default": 1}, "1-based page (0 or less: page 1)"),
               _q("page_size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                  "clamped to 1..100")]
TASK_FILTERS = [_q("platform", S), _q("task_id", S), _q("status", {"type": "string", "enum": STATUSES}),
                _q("action", S), _q("start_timestamp", I, "seconds, on submit_time"),
                _q("end_timestamp", I, "seconds, on submit_time")]
MJ_FILTERS = [_q("mj_id", S), _q("start_timestamp", I, "milliseconds"), _q("end_timestamp", I, "milliseconds")]
V1_LIST = [_q("status", {"type": "integer", "enum": [0, 1, 2, 3]}), _q("serial", S), _q("script_name", S),
           _q("source", {"type": "string", "enum": ["ui", "api"]}),
           _q("page", {"type": "integer", "minimum": 1, "default": 1}),
           _q("page_size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})]


def _op(surface: str, summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: str | None = None, errors: tuple[int, ...] = (400, 401, 403), public: bool = False,
        ok_content: str = "application/json") -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {ok_content: {"schema": ok}}}}
    for status in (*errors, 500):
        responses[str(status)] = {"description": "error in the surface's envelope",
                                  "content": {"application/json": {"schema": _ref(ERROR_SCHEMA[surface])}}}
    op: dict[str, Any] = {"summary": summary, "tags": [surface], "responses": responses,
                          "parameters": list(params or [])}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op["security"] = [] if public else SECURITY[surface]
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": S}


DASH_TASKS = _envelope("dashboard", _page("Task"))
DASH_MJ = _envelope("dashboard", _page("MjTask"))
V1_OK = _envelope("v1", ANY_OBJ)

# (METHOD, app path) -> operation
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/user/self"): _op("dashboard", "The caller's account", _envelope("dashboard", _ref("UserSelf"))),
    ("GET", "/api/task/self"): _op("dashboard", "The caller's tasks, newest first", DASH_TASKS,
                                   params=PAGE_PARAMS + TASK_FILTERS),
    ("GET", "/api/task"): _op("dashboard", "All tasks (admin); also served at /api/task/", DASH_TASKS,
                              params=PAGE_PARAMS + TASK_FILTERS + [_q("channel_id", I)]),
    ("GET", "/api/mj/self"): _op("dashboard", "The caller's Midjourney tasks, newest first", DASH_MJ,
                                 params=PAGE_PARAMS + MJ_FILTERS),
    ("GET", "/api/mj"): _op("dashboard", "All Midjourney tasks (admin); also served at /api/mj/", DASH_MJ,
                            params=PAGE_PARAMS + MJ_FILTERS + [_q("channel_id", I)]),
    ("POST", "/suno/submit/{action}"): _op("suno", "Submit a Suno task (music | lyrics)", _envelope("suno", S),
                                           params=[_path_param("action")], body="SunoSubmit",
                                           errors=(400, 401, 403, 502, 503)),
    ("POST", "/suno/fetch"): _op("suno", "The caller's tasks among ids", _envelope(
        "suno", {"type": "array", "items": _ref("SunoTask")}), body="IdList"),
    ("GET", "/suno/fetch/{task_id}"): _op("suno", "One of the caller's tasks", _envelope("suno", _ref("SunoTask")),
                                          params=[_path_param("task_id")]),
    ("POST", "/mj/submit/imagine"): _op("mj", "Imagine", _ref("MjSubmitReply"), body="MjImagine",
                                        errors=(400, 401, 403, 502, 503)),
    ("POST", "/mj/submit/action"): _op("mj", "Press a button (customId) of an earlier task", _ref("MjSubmitReply"),
                                       body="MjAction", errors=(400, 401, 403, 404, 502, 503)),
    ("POST", "/mj/submit/change"): _op("mj", "UPSCALE / VARIATION / REROLL by index", _ref("MjSubmitReply"),
                                       body="MjChange", errors=(400, 401, 403, 404, 502, 503)),
    ("POST", "/mj/submit/blend"): _op("mj", "Blend 2-5 images", _ref("MjSubmitReply"), body="MjBlend",
                                      errors=(400, 401, 403, 502, 503)),
    ("POST", "/mj/submit/describe"): _op("mj", "Describe an image", _ref("MjSubmitReply"), body="MjDescribe",
                                         errors=(400, 401, 403, 502, 503)),
    ("POST", "/mj/submit/modal"): _op("mj", "Submit a modal (region/prompt) for a MODAL task", _ref("MjSubmitReply"),
                                      body="MjModal", errors=(400, 401, 403, 404, 502, 503)),
    ("POST", "/mj/submit/shorten"): _op("mj", "Shorten a prompt", _ref("MjSubmitReply"), body="MjShorten",
                                        errors=(400, 401, 403, 502, 503)),
    ("GET", "/mj/task/{id}/fetch"): _op("mj", "One of the caller's tasks", _ref("MjProxyTask"),
                                        params=[_path_param("id")], errors=(400, 401, 403, 404)),
    ("POST", "/mj/task/list-by-condition"): _op("mj", "The caller's tasks among ids",
                                                {"type": "array", "items": _ref("MjProxyTask")}, body="IdList"),
    ("GET", "/mj/image/{id}"): _op("mj", "The task's image, streamed from the upstream (SSRF-safe)",
                                   {"type": "string", "format": "binary"}, params=[_path_param("id")],
                                   errors=(400, 404, 502), public=True, ok_content="image/*"),
    ("POST", "/api/v1/task"): _op("v1", "Create tasks (one per device, per target where the script fans out)",
                                  V1_OK, body="V1Create"),
    ("GET", "/api/v1/task"): _op("v1", "List the caller's tasks", V1_OK, params=V1_LIST),
    ("GET", "/api/v1/task/{task_id}"): _op("v1", "One task", V1_OK, params=[_path_param("task_id")],
                                           errors=(400, 401, 403, 404)),
    ("DELETE", "/api/v1/task/{task_id}"): _op("v1", "Delete a task (a running one is stopped first)", V1_OK,
                                              params=[_path_param("task_id")], errors=(400, 401, 403, 404)),
    ("DELETE", "/api/v1/task/batch"): _op("v1", "Delete tasks (running ones are stopped first)", V1_OK,
                                          body="V1TaskIds"),
    ("POST", "/api/v1/task/{task_id}/stop"): _op("v1", "Stop a task (refunded)", V1_OK,
                                                 params=[_path_param("task_id")], errors=(400, 401, 403, 404)),
    ("POST", "/api/v1/task/{task_id}/retry"): _op("v1", "Retry a failed task (charged again)", V1_OK,
                                                  params=[_path_param("task_id")], errors=(400, 401, 403, 404)),
    ("POST", "/api/v1/task/retry-all"): _op("v1", "Retry every failed task (answers at once with the count)",
                                            V1_OK),
    ("GET", "/api/v1/task/stats"): _op("v1", "Counts: total, pending, running, completed, failed", V1_OK),
    ("GET", "/api/v1/license/check"): _op("v1", "The caller's plan and API access", V1_OK, errors=(401,)),
    ("GET", "/openapi.json"): {"summary": "This description", "tags": ["meta"], "security": [],
                               "responses": {"200": {"description": "OpenAPI 3 document",
                                                     "content": {"application/json": {"schema": ANY_OBJ}}}}},
}


SCHEMAS.update(api_description_webhooks.schemas(_obj))
OPERATIONS.update(api_description_webhooks.operations(_op, _ref, _envelope, _path_param))


class DescriptionDrift(Exception):
    """The route table and OPERATIONS disagree."""


def build(routes: list[tuple[str, str]], server_url: str = "/", *, strict: bool = True) -> dict[str, Any]:
    """The OpenAPI document for exactly these (METHOD, path) routes.

    strict (tests, `make openapi`): any difference between routes and OPERATIONS is an error. The served
    document is built non-strict, so a description gap can never turn the route itself into a 500.
    """
    wanted = set(routes)
    missing = sorted(wanted - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - wanted)
    if strict and (missing or stale):
        raise DescriptionDrift(f"routes without a description: {missing}; descriptions without a route: {stale}")
    wanted -= set(missing)
    paths: dict[str, dict[str, Any]] = {}
    for method, path in sorted(wanted, key=lambda r: (r[1], r[0])):
        operation = dict(OPERATIONS[(method, path)])
        operation["operationId"] = f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '')}".replace(
            "}", "").replace("-", "_")
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Task Center", "version": VERSION,
                 "description": "new-api dashboard listings, Suno and Midjourney relays, and the TikMatrix-"
                                "compatible Task API v1, each with its own envelope."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer", "description": "dashboard access token"},
                "newApiUser": {"type": "apiKey", "in": "header", "name": "New-Api-User",
                               "description": "numeric user id (an optional 'Bearer ' prefix is accepted)"},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "sk- API key (v1: or access token)"},
                "mjApiSecret": {"type": "apiKey", "in": "header", "name": "mj-api-secret"},
            },
        },
    }


def routes_of(app: Any) -> list[tuple[str, str]]:
    return [(method, path) for path, methods in app.routes.items() for method in methods]
