"""OpenAPI 3 description of the three surfaces (issue 7 item 1).

Paths and methods come from the Chalice app's route table (`build(routes)`), and every route must have
an entry in OPERATIONS: a route without one, or an entry without a route, is an error, so the description
cannot drift from the app (tests/infra/test_openapi.py). Each surface documents its own envelopes, as
clients of new-api, midjourney-proxy and TikMatrix expect them.
"""

from __future__ import annotations

from typing import Any

from taskcenter import api_description_usage_log, api_description_webhooks
from taskcenter.api_schemas import (  # noqa: F401 - the schemas, and the helpers the operations use
    ANY_OBJ,
    MJ_STATUSES,
    SCHEMAS,
    STATUSES,
    B,
    I,
    S,
    _obj,
    _ref,
)

VERSION = "1.0.0"



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


ERROR_SCHEMA = {"dashboard": "DashboardError", "suno": "SunoError", "mj": "MjError", "v1": "V1Error",
                "openai": "OpenAIError", "newapi": "SunoError"}
SECURITY = {
    "dashboard": [{"accessToken": []}, {"accessToken": [], "newApiUser": []}],
    "suno": [{"apiKey": []}, {"mjApiSecret": []}],
    "mj": [{"apiKey": []}, {"mjApiSecret": []}],
    "v1": [{"apiKey": []}],
    "openai": [{"apiKey": []}],
    "newapi": [{"apiKey": []}],
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
        # the relays' authentication refusals are new-api's gateway shape (docs/compatibility.md)
        schema = "GatewayError" if surface in ("suno", "mj") and status in (401, 403) else ERROR_SCHEMA[surface]
        responses[str(status)] = {"description": "error in the surface's envelope",
                                  "content": {"application/json": {"schema": _ref(schema)}}}
    op: dict[str, Any] = {"summary": summary, "tags": [surface], "responses": responses,
                          "parameters": list(params or [])}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op["security"] = [] if public else SECURITY[surface]
    return op


def _redirects(op: dict[str, Any]) -> dict[str, Any]:
    """A result route: 302 to a short-lived presigned URL of the kept copy (docs/results.md)."""
    op["responses"]["302"] = {"description": "redirect to the file (Location)",
                              "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}
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
                                                {"type": "array", "items": _ref("MjProxyTask")}, body="MjIdList",
                                                errors=(400, 401, 403, 413)),
    ("POST", "/mj/submit/simple-change"): _op("mj", "U/V/R of an earlier task, as text (\"<taskId> U2\")",
                                              _ref("MjSubmitReply"), body="MjSimpleChange",
                                              errors=(400, 401, 403, 404, 502, 503)),
    ("POST", "/mj/submit/edits"): _op("mj", "Edit an image (prompt, image, optional mask)", _ref("MjSubmitReply"),
                                      body="MjEdits", errors=(400, 401, 403, 413, 502, 503)),
    ("POST", "/mj/submit/video"): _op("mj", "Image to video (an image, or the taskId of an image task)",
                                      _ref("MjSubmitReply"), body="MjVideo",
                                      errors=(400, 401, 403, 404, 413, 502, 503)),
    ("POST", "/mj/insight-face/swap"): _op("mj", "Face swap (InsightFace)", _ref("MjSubmitReply"), body="MjSwapFace",
                                           errors=(400, 401, 403, 413, 502, 503)),
    ("POST", "/mj/submit/upload-discord-images"): _op("mj", "Upload reference images (result: their URLs); "
                                                      "no task, not charged", _ref("MjSubmitReply"),
                                                      body="MjUpload", errors=(400, 401, 403, 413, 502, 503)),
    ("GET", "/mj/task/{id}/image-seed"): _op("mj", "The seed of one of the caller's tasks (result), from its upstream",
                                             _ref("MjSubmitReply"), params=[_path_param("id")],
                                             errors=(400, 401, 403, 404, 502)),
    ("GET", "/mj/image/{id}"): _redirects(_op(
        "mj", "The task's image: a redirect to the kept copy (docs/results.md), else streamed from the upstream "
        "(SSRF-safe)", {"type": "string", "format": "binary"}, params=[_path_param("id")],
        errors=(400, 404, 502), public=True, ok_content="image/*")),
    ("GET", "/suno/result/{task_id}/{variant}"): _redirects(_op(
        "suno", "A clip's kept file (variant `<clip index>.audio` or `.image`): a redirect to a short-lived "
        "presigned URL of the copy, else to the upstream's URL (docs/results.md)", {},
        params=[_path_param("task_id"), _path_param("variant")], errors=(404,), public=True)),
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
    # OpenAI Videos API (docs/video.md)
    ("POST", "/v1/videos"): _op("openai", "Create a video (JSON, or multipart/form-data with an input_reference "
                                "file); charged for the requested seconds", _ref("Video"), body="VideoCreate",
                                errors=(400, 401, 403, 413, 502, 503)),
    ("GET", "/v1/videos"): _op("openai", "The caller's videos (cursor pagination)", _ref("VideoList"),
                               params=[_q("after", S, "id of the last video of the previous page"),
                                       _q("limit", {"type": "integer", "minimum": 0, "maximum": 100, "default": 20}),
                                       _q("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"})]),
    ("GET", "/v1/videos/{video_id}"): _op("openai", "One of the caller's videos", _ref("Video"),
                                          params=[_path_param("video_id")], errors=(400, 401, 404)),
    ("DELETE", "/v1/videos/{video_id}"): _op("openai", "Delete a completed or failed video", _ref("VideoDeleted"),
                                             params=[_path_param("video_id")], errors=(400, 401, 404)),
    ("POST", "/v1/videos/{video_id}/remix"): _op("openai", "A new video from a completed one, with a new prompt",
                                                 _ref("Video"), params=[_path_param("video_id")], body="VideoRemix",
                                                 errors=(400, 401, 403, 404, 502, 503)),
    ("GET", "/v1/videos/{video_id}/content"): {
        **_op("openai", "The video's asset: a 302 redirect to it", ANY_OBJ, errors=(400, 401, 404),
              params=[_path_param("video_id"),
                      _q("variant", {"type": "string", "enum": ["video", "thumbnail", "spritesheet"],
                                     "default": "video"})]),
        "responses": {**_op("openai", "", ANY_OBJ, errors=(400, 401, 404))["responses"],
                      "302": {"description": "redirect to the asset (Location header)"}},
    },
    # new-api's video routes (docs/video.md)
    ("POST", "/v1/video/generations"): _op("newapi", "Submit a video task (new-api's request)", _ref("Video"),
                                           body="VideoGeneration", errors=(400, 401, 403, 502, 503)),
    ("GET", "/v1/video/generations/{task_id}"): _op("newapi", "One of the caller's video tasks",
                                                    _envelope("suno", _ref("VideoTaskDto")),
                                                    params=[_path_param("task_id")]),
    ("POST", "/kling/v1/videos/{action}"): _op("newapi", "Submit a Kling task in Kling's own body (text2video, "
                                               "image2video)", _ref("Video"), params=[_path_param("action")],
                                               body="KlingCreate", errors=(400, 401, 403, 502, 503)),
    ("GET", "/kling/v1/videos/{action}/{task_id}"): _op("newapi", "One of the caller's Kling tasks (new-api's "
                                                        "envelope)", _envelope("suno", _ref("VideoTaskDto")),
                                                        params=[_path_param("action"), _path_param("task_id")]),
    ("GET", "/openapi.json"): {"summary": "This description", "tags": ["meta"], "security": [],
                               "responses": {"200": {"description": "OpenAPI 3 document",
                                                     "content": {"application/json": {"schema": ANY_OBJ}}}}},
}


SCHEMAS.update(api_description_webhooks.schemas(_obj))
OPERATIONS.update(api_description_webhooks.operations(_op, _ref, _envelope, _path_param))
SCHEMAS.update(api_description_usage_log.schemas(_obj))
OPERATIONS.update(api_description_usage_log.operations(_op, _ref, _envelope, _page, _q, PAGE_PARAMS))


def _add_relay_aliases(operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The routes the app derives from the others: /{mode}/mj/... twins, the unknown-/mj-path answer and one
    CORS preflight per relay and dashboard path (functions/mj.py, functions/cors.py)."""
    mode = {"name": "mode", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^mj-[a-z]+$"},
            "description": "mj-fast, mj-relax or mj-turbo: a routing alias, never sent upstream"}
    for (method, path), op in list(operations.items()):
        if path.startswith("/mj/"):
            operations[(method, "/{mode}" + path)] = {**op, "parameters": [mode, *op.get("parameters", [])]}
    def params_of(path: str) -> list[dict[str, Any]]:
        return [mode if part == "{mode}" else _path_param(part[1:-1])
                for part in path.split("/") if part.startswith("{")]

    for path in ("/mj/{a}", "/mj/{a}/{b}", "/mj/{a}/{b}/{c}", "/mj/{a}/{b}/{c}/{d}"):
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            operations[(method, path)] = _op("mj", "No such Midjourney route: 404 in the MJ envelope",
                                             _ref("MjError"), params=params_of(path), errors=(404,), public=True)
    for path in {p for _, p in operations}:
        relay = path.startswith(("/mj", "/suno", "/{mode}/mj"))
        if relay or (path.startswith("/api/") and not path.startswith("/api/v1/")):
            operations[("OPTIONS", path)] = {
                "summary": "CORS preflight (relays: any origin; dashboard: DASHBOARD_CORS_ORIGINS)",
                "tags": ["meta"], "security": [], "parameters": params_of(path),
                "responses": {"204": {"description": "CORS headers"}}}


_add_relay_aliases(OPERATIONS)


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
                               "description": "optional numeric user id; when sent it must be the token's "
                                              "user (an optional 'Bearer ' prefix is accepted)"},
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "API key, sk- optional; sk-KEY-<channel id> pins an admin's relay request "
                                          "(v1: or access token)"},
                "mjApiSecret": {"type": "apiKey", "in": "header", "name": "mj-api-secret"},
            },
        },
    }


def routes_of(app: Any) -> list[tuple[str, str]]:
    return [(method, path) for path, methods in app.routes.items() for method in methods]
