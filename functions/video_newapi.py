"""new-api's video routes (API key): /v1/video/generations and the Kling-native routes (docs/video.md).

Errors answer in new-api's envelope `{"code", "message", "data": null}` (surface "newapi").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from taskcenter.services.core.auth import authenticate_relay
from taskcenter.services.core.idempotency import HEADER as IDEMPOTENCY_HEADER

from functions import video as video_routes  # one set of video permissions
from functions._http import (
    CONTENT_TYPES,
    base_url,
    guarded,
    header,
    json_object,
    json_response,
    lambda_body_limit,
    lazy_module,
    suno_ok,
)

if TYPE_CHECKING:  # loaded by the first call (cold start: see lazy_module)
    from taskcenter.services.video import newapi_videos
else:
    newapi_videos = lazy_module("taskcenter.services.video.newapi_videos")

bp = Blueprint(__name__)

_SUBMIT, _READ = video_routes.SUBMIT_PERMISSIONS, video_routes.READ_PERMISSIONS  # the same grants as /v1/videos

# Read by the template generator (infra/template.py).
PERMISSIONS: dict[str, dict[str, Any]] = {
    "submit_video_generation": _SUBMIT,
    "fetch_video_generation": _READ,
    "submit_kling_video": _SUBMIT,
    "fetch_kling_video": _READ,
}


def _submitted(outcome: Any) -> Response:
    reply = json_response(outcome.value)
    if outcome.replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


@bp.route("/v1/video/generations", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("newapi")
def submit_video_generation() -> Response:
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    body = json_object(request, max_bytes=lambda_body_limit(request))  # images in the body (docs/video.md)
    return _submitted(newapi_videos.submit(principal, body, header(request, IDEMPOTENCY_HEADER)))


@bp.route("/v1/video/generations/{task_id}", methods=["GET"])
@guarded("newapi")
def fetch_video_generation(task_id: str) -> Response:
    principal = authenticate_relay(header(bp.current_request, "Authorization"))
    return suno_ok(newapi_videos.fetch(principal, task_id, base_url(bp.current_request)))


@bp.route("/kling/v1/videos/{action}", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("newapi")
def submit_kling_video(action: str) -> Response:
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    body = json_object(request, max_bytes=lambda_body_limit(request))
    return _submitted(newapi_videos.kling_native(principal, action, body, header(request, IDEMPOTENCY_HEADER)))


@bp.route("/kling/v1/videos/{action}/{task_id}", methods=["GET"])
@guarded("newapi")
def fetch_kling_video(action: str, task_id: str) -> Response:
    principal = authenticate_relay(header(bp.current_request, "Authorization"))
    if action not in ("text2video", "image2video"):
        raise newapi_videos.TaskNotExist("task_not_exist")
    return suno_ok(newapi_videos.fetch(principal, task_id, base_url(bp.current_request)))
