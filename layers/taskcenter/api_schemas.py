"""The OpenAPI schemas of every surface's bodies and replies (taskcenter/api_description.py builds the
description from them and from the route table)."""

from __future__ import annotations

from typing import Any

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
    "DashboardError": _obj({"success": {"type": "boolean", "enum": [False]}, "message": S,
                            "code": {**S, "description": "AUTH_... on an authentication refusal without New-Api-User"}},
                           ["success", "message"]),
    "UserSelf": _obj({"id": I, "username": S, "display_name": S, "role": I, "status": I, "group": S,
                      "quota": I, "used_quota": I, "request_count": I}, ["id", "username", "role", "quota"]),
    "Task": _obj({
        "id": I, "created_at": I, "updated_at": I, "task_id": S, "platform": S, "user_id": I, "group": S,
        "channel_id": {**I, "description": "0 in the user listing"},
        "result_url": {**S, "description": "the failure text (new-api's fallback); omitted when empty"},
        "username": {**S, "description": "admin listing only: the owner"},
        "quota": {**I, "description": "0 once refunded"}, "action": S,
        "status": {"type": "string", "enum": STATUSES}, "fail_reason": S, "submit_time": I, "start_time": I,
        "finish_time": I, "progress": S, "properties": ANY_OBJ, "data": {},
    }, ["id", "task_id", "platform", "user_id", "quota", "action", "status", "submit_time", "progress"]),
    "MjTask": _obj({
        "id": I, "code": I, "user_id": I, "channel_id": I, "mj_id": S, "action": S, "prompt": S, "prompt_en": S,
        "description": S, "state": S, "status": S, "progress": S, "image_url": S, "video_url": S,
        "video_urls": S, "submit_time": I, "start_time": I, "finish_time": I, "fail_reason": S, "quota": I,
        "buttons": {**S, "description": "JSON string"}, "properties": {**S, "description": "JSON string"},
    }, ["id", "mj_id", "action", "status", "progress", "submit_time", "quota"]),
    # ---------------------------------------------------------------- Suno relay
    # maxLength: the largest model's limits (v4.5+); older models allow less (docs/suno.md, "Limits and storage")
    "SunoSubmit": _obj({"prompt": {**S, "maxLength": 5000}, "gpt_description_prompt": {**S, "maxLength": 500},
                        "mv": {**S, "maxLength": 64}, "title": {**S, "maxLength": 100},
                        "tags": {**S, "maxLength": 1000},
                        "continue_at": {"type": "number", "minimum": 0, "maximum": 3600},
                        "continue_clip_id": {**S, "maxLength": 128}, "task_id": {**S, "maxLength": 128},
                        "make_instrumental": B}),
    "SunoError": _obj({"code": S, "message": S, "data": {"nullable": True}}, ["code", "message", "data"]),
    "SunoTask": _ref("Task"),  # new-api's TaskDto, as the task listings (the real channel_id, no username)
    "GatewayError": _obj({"error": _obj({"message": S, "type": {"type": "string", "enum": ["new_api_error"]},
                                         "code": S}, ["message", "type", "code"])}, ["error"]),
    "IdList": _obj({"ids": {"type": "array", "items": S, "maxItems": 100}}, ["ids"]),
    # ---------------------------------------------------------------- Midjourney relay
    "MjSubmitReply": _obj({"code": {**I, "description": "1 accepted (new-api rewrites 21 and 22 to 1); 21 a "
                                                        "modal is pending (INPAINT, CUSTOM_ZOOM); 23, 24, ...: "
                                                        "the upstream refused (HTTP 200, nothing charged)"},
                           "description": S, "result": {**S, "nullable": True},
                           "properties": {**ANY_OBJ,
                                          "description": "the upstream's (finalPrompt, numberOfQueues, ...)"}},
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
    "MjSimpleChange": _obj({"content": {**S, "description": '"<taskId> U1".."U4", "V1".."V4" or "R"'},
                            "notifyHook": S, "state": S}, ["content"]),
    "MjEdits": _obj({"prompt": S, "image": S, "maskBase64": S, "notifyHook": S, "state": S}, ["prompt", "image"]),
    "MjVideo": _obj({"prompt": S, "motion": {"type": "string", "enum": ["low", "high"]}, "image": S, "base64": S,
                     "mode": {"type": "string", "enum": ["FAST", "RELAX", "TURBO"]}, "taskId": S,
                     "notifyHook": S, "state": S}),
    "MjUpload": _obj({"base64Array": {"type": "array", "items": S, "minItems": 1, "maxItems": 5}},
                     ["base64Array"]),
    "MjSwapFace": _obj({"sourceBase64": S, "targetBase64": S}, ["sourceBase64", "targetBase64"]),
    "MjIdList": _obj({"ids": {"type": "array", "items": {"oneOf": [S, I]},
                              "description": "strings or numbers; as many as one reply can carry (else 413)"}},
                     ["ids"]),
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
    # ---------------------------------------------------------------- OpenAI Videos API (docs/video.md)
    "OpenAIError": _obj({"error": _obj({"message": S, "type": S, "param": {**S, "nullable": True},
                                        "code": {**S, "nullable": True}}, ["message", "type"])}, ["error"]),
    "VideoCreate": _obj({
        "prompt": {**S, "minLength": 1, "maxLength": 32000},
        "model": {**S, "default": "sora-2", "description": "picks the platform (docs/video.md): sora-2, sora-2-pro "
                  "or a dated snapshot; kling-*, doubao-seedance-*, veo-* (new-api's rules for those)"},
        "seconds": {"type": "string", "default": "4", "description": "Sora: 4, 8 or 12; Kling 5 or 10, Seedance "
                    "2-12, Veo 4, 6 or 8"},
        "size": {"type": "string", "default": "720x1280", "description": "WxH; sora-2: 720x1280 or 1280x720, "
                 "sora-2-pro also 1024x1792, 1792x1024, 1920x1080, 1080x1920; other models: mapped to their "
                 "aspect ratio / resolution"},
        "mode": {**S, "description": "Kling: std or pro"},
        "metadata": {"description": "other models: vendor parameters (an object or a JSON string of one)"},
        "input_reference": {"description": "JSON: {image_url} (URL or data URL); multipart: a jpeg/png/webp file"},
    }, ["prompt"]),
    "VideoRemix": _obj({"prompt": {**S, "minLength": 1, "maxLength": 32000}}, ["prompt"]),
    "Video": _obj({
        "id": S, "object": {"type": "string", "enum": ["video"]}, "model": S,
        "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed"]},
        "progress": I, "created_at": I, "completed_at": {**I, "nullable": True},
        "expires_at": {**I, "nullable": True}, "prompt": S, "seconds": S, "size": S,
        "remixed_from_video_id": {**S, "nullable": True},
        "error": {**_obj({"code": S, "message": S}), "nullable": True},
    }, ["id", "object", "status", "progress", "created_at"]),
    "VideoList": _obj({"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array",
                       "items": _ref("Video")}, "first_id": {**S, "nullable": True},
                       "last_id": {**S, "nullable": True}, "has_more": B}, ["object", "data", "has_more"]),
    "VideoGeneration": _obj({
        "model": {**S, "description": "picks the platform: sora-2*, kling-*, doubao-seedance-*, veo-*"},
        "prompt": {**S, "minLength": 1, "maxLength": 32000}, "mode": {"type": "string", "enum": ["std", "pro"]},
        "image": S, "images": {"type": "array", "items": S}, "size": S,
        "duration": {"description": "seconds: an integer or a numeric string (0-3600)"}, "seconds": S,
        "input_reference": S, "metadata": {"description": "an object, or a JSON string of one (vendor fields)"},
    }, ["model", "prompt"]),
    "KlingCreate": _obj({"model_name": {**S, "default": "kling-v1"}, "prompt": S, "negative_prompt": S, "image": S,
                         "mode": {"type": "string", "enum": ["std", "pro"]},
                         "duration": {"type": "string", "enum": ["5", "10"]}, "aspect_ratio": S}, ["prompt"]),
    "VideoTaskDto": _obj({
        "id": I, "created_at": I, "updated_at": I, "task_id": S,
        "platform": {**S, "description": "55 Sora, 50 Kling, 54 Doubao, 24 Gemini"},
        "user_id": I, "group": S, "channel_id": I, "quota": I, "action": S,
        "status": {"type": "string", "enum": STATUSES}, "fail_reason": S,
        "result_url": {**S, "description": "once SUCCESS: the content route"}, "submit_time": I, "start_time": I,
        "finish_time": I, "progress": S, "properties": ANY_OBJ, "data": {},
    }, ["task_id", "platform", "status", "progress"]),
    "VideoDeleted": _obj({"id": S, "object": {"type": "string", "enum": ["video.deleted"]}, "deleted": B},
                         ["id", "object", "deleted"]),
}
