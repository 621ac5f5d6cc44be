"""The OpenAI Videos API (API key): create, retrieve, list, delete, remix, content (docs/video.md).

Errors answer in OpenAI's envelope `{"error": {"message", "type", "param", "code"}}` (surface "openai").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from taskcenter.domain.errors import TooLarge
from taskcenter.services.core.auth import authenticate_relay
from taskcenter.services.core.idempotency import HEADER as IDEMPOTENCY_HEADER

from functions._http import (
    CONTENT_TYPES,
    guarded,
    header,
    json_object,
    json_response,
    lambda_body_limit,
    lazy_module,
    query,
)

if TYPE_CHECKING:  # loaded by the first call (cold start: see lazy_module)
    from taskcenter.services.video import content as video_content
    from taskcenter.services.video import openai_platforms, openai_videos
else:
    openai_videos = lazy_module("taskcenter.services.video.openai_videos")
    openai_platforms = lazy_module("taskcenter.services.video.openai_platforms")
    video_content = lazy_module("taskcenter.services.video.content")

bp = Blueprint(__name__)

_SUBMIT: dict[str, Any] = {
    "tables": {"users": "rw", "credentials": "rw", "channels": "r", "tasks": "rw", "ledger": "rw",
               "counters": "rw", "idempotency": "rw"},
    "queues": {"poll": "send", "refund": "send"},
    "secrets": "read",  # calls the upstream with the channel's secret
    "timeout": 60,
}
_READ: dict[str, Any] = {"tables": {"users": "r", "credentials": "r", "tasks": "r"}}
SUBMIT_PERMISSIONS, READ_PERMISSIONS = _SUBMIT, _READ  # new-api's video routes grant the same (video_newapi.py)

# Read by the template generator (infra/template.py).
PERMISSIONS: dict[str, dict[str, Any]] = {
    "create_video": _SUBMIT,
    "remix_video": _SUBMIT,
    "retrieve_video": _READ,
    "list_videos": _READ,
    "delete_video": {"tables": {"users": "r", "credentials": "r", "tasks": "rw"}},
    "download_video_content": {"tables": {"users": "r", "credentials": "r", "tasks": "r", "channels": "r"},
                               "results": "read"},  # presigns the kept copy (docs/results.md)
}


def _ok(body: Any, outcome: Any = None) -> Response:
    reply = json_response(body)
    if outcome is not None and outcome.replayed:
        reply.headers["Idempotent-Replayed"] = "true"
    return reply


@bp.route("/v1/videos", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("openai")
def create_video() -> Response:
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    content_type = header(request, "Content-Type") or ""
    key = header(request, IDEMPOTENCY_HEADER)
    # Every configured video model, not only Sora's (services/video/openai_platforms.py)
    if content_type.lower().startswith("multipart/form-data"):
        raw = request.raw_body or b""
        limit = lambda_body_limit(request)  # images ride in the body: as large as one Lambda event carries
        if len(raw) > limit:
            raise TooLarge(f"request body larger than {limit} bytes (one Lambda event, 6 MB, base64-encoded)")
        outcome = openai_platforms.create_multipart(principal, raw, content_type, key)
    else:
        outcome = openai_platforms.create_json(principal, json_object(request, max_bytes=lambda_body_limit(request)),
                                               key)
    return _ok(outcome.value, outcome)


@bp.route("/v1/videos", methods=["GET"])
@guarded("openai")
def list_videos() -> Response:
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    return _ok(openai_videos.list_videos(principal, query(request)))


@bp.route("/v1/videos/{video_id}", methods=["GET"])
@guarded("openai")
def retrieve_video(video_id: str) -> Response:
    principal = authenticate_relay(header(bp.current_request, "Authorization"))
    return _ok(openai_videos.retrieve(principal, video_id))


@bp.route("/v1/videos/{video_id}", methods=["DELETE"])
@guarded("openai")
def delete_video(video_id: str) -> Response:
    principal = authenticate_relay(header(bp.current_request, "Authorization"))
    return _ok(openai_videos.delete(principal, video_id))


@bp.route("/v1/videos/{video_id}/remix", methods=["POST"], content_types=CONTENT_TYPES)
@guarded("openai")
def remix_video(video_id: str) -> Response:
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    outcome = openai_videos.remix(principal, video_id, json_object(request), header(request, IDEMPOTENCY_HEADER))
    return _ok(outcome.value, outcome)


@bp.route("/v1/videos/{video_id}/content", methods=["GET"])
@guarded("openai")
def download_video_content(video_id: str) -> Response:
    """A redirect to the asset (a Lambda reply cannot carry tens of MB): services/video/content.py."""
    request = bp.current_request
    principal = authenticate_relay(header(request, "Authorization"))
    variant = video_content.parse_variant(query(request).get("variant"))
    task = openai_videos.visible_task(principal, video_id)
    location = video_content.content_location(task, variant)
    return Response(body="", status_code=302, headers={"Location": location, "Cache-Control": "no-store"})
