"""Where a video's content is served from (docs/video.md, "Where results live").

`content_location(task, variant)` is the one lookup of an asset's URL: the content route answers with a
redirect to it (API Gateway and Lambda cannot carry a response of tens of MB). A kept copy in the results
bucket (docs/results.md) is served first, by a short-lived presigned URL; until then, the upstream's URL.
Kling's and Seedance's results are public (signed) URLs, copied by the result keeper
(`public_result_urls`, their platform rows); Sora's and Veo's need the channel's key, which the keeper
does not send, so they are not copied yet (docs/video.md, "Where results live").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from taskcenter import settings
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, NotFound
from taskcenter.services.core import channels as channel_service
from taskcenter.services.results import serving as results_serving

VARIANTS = ("video", "thumbnail", "spritesheet")


def parse_variant(raw: str | None) -> str:
    variant = (raw or "video").strip().lower()
    if variant not in VARIANTS:
        raise BadInput("variant must be one of video, thumbnail, spritesheet", field="variant")
    return variant


def content_location(task: Any, variant: str) -> str:
    """The URL of `variant` of a SUCCESS video task. NotFound when the upstream has no such asset."""
    if task.status != states.SUCCESS:
        raise BadInput(f"Video is not ready yet (status {task.status}); wait until it is completed.",
                       field="video_id")
    kept = results_serving.presigned_result(task, variant)
    if kept is not None:
        return kept
    data = task.data if isinstance(task.data, dict) else {}
    if task.platform != "sora":  # the result's URL (Kling, Seedance: public, signed; Veo: needs the key), video only
        url = data.get("url")
        if variant != "video" or not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise NotFound(f"this video has no {variant}", code="video_not_found")
        return url
    channel = channel_service.get_channel(int(task.channel_id or 0))
    if channel is None or not task.upstream_id:
        raise NotFound("the video's content is no longer available", code="video_not_found")
    # The OpenAI Videos API serves assets at the video's own content route (docs/video.md).
    return (f"{str(channel.base_url).rstrip('/')}/v1/videos/{quote(task.upstream_id, safe='')}/content"
            f"?variant={variant}")


def public_result_urls(task: Any) -> dict[str, str]:
    """The platform row's `result_urls` for upstreams whose result is a public URL (Kling, Seedance):
    {"video": url}; the result keeper copies it when the task succeeds."""
    data = task.data if isinstance(task.data, dict) else {}
    url = data.get("url")
    return {"video": url} if isinstance(url, str) and url.startswith(("https://", "http://")) else {}


def proxy_url(task_id: str) -> str:
    """new-api's `result_url` for a video without a public upstream URL: our own content route."""
    return f"{settings.get().public_base_url}/v1/videos/{quote(task_id, safe='')}/content"
