"""Where a video's content is served from (docs/video.md, "Where results live").

`content_location(task, variant)` is the one lookup of an asset's URL: the content route answers with a
redirect to it (API Gateway and Lambda cannot carry a response of tens of MB). A kept copy in the results
bucket (docs/results.md) is served first, by a short-lived presigned URL. Every video platform's row names
its files for the result keeper (`result_urls`). Kling's and Seedance's results are public (signed) URLs:
until the copy is done the route redirects to them. Sora's and Veo's need the channel's key (the keeper
downloads them through the provider adapter), so they are served from the kept copy only: until the copy
is done the route answers 409, and the OpenAI video object says `in_progress` (`content_pending`).
"""

from __future__ import annotations

from typing import Any

from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, Conflict, NotFound
from taskcenter.providers import sora as sora_provider
from taskcenter.services.core import channels as channel_service
from taskcenter.services.results import serving as results_serving

VARIANTS = ("video", "thumbnail", "spritesheet")
# Platforms whose upstream serves the result only with the channel's key: served from the kept copy only.
KEPT_ONLY = frozenset({"sora", "gemini"})
# A keep message's redelivery delay: the keep queue's visibility timeout (infra/template.py: 6 x the keep
# worker's 300 s timeout; docs/results.md).
KEEP_REDELIVERY_S = 6 * 300


class ContentPending(Conflict):
    code = "video_content_pending"


def parse_variant(raw: str | None) -> str:
    variant = (raw or "video").strip().lower()
    if variant not in VARIANTS:
        raise BadInput("variant must be one of video, thumbnail, spritesheet", field="variant")
    return variant


def content_pending(task: Any) -> bool:
    """A SUCCESS video whose content only the kept copy can serve, and whose copy is still under way."""
    if task.platform not in KEPT_ONLY or task.status != states.SUCCESS:
        return False
    if results_serving.record_of(task).get("state") in ("kept", "failed"):
        return False
    # Not forever: after the keeper's whole retry horizon (RESULTS_COPY_ATTEMPTS deliveries) it is shown
    # completed anyway (a keep message that was never queued is alarmed: ResultsKeepNotQueued)
    finished_s = int(task.finish_ms or 0) // 1000
    horizon_s = settings.get().results_copy_attempts * KEEP_REDELIVERY_S
    return not finished_s or clock.now_s() - finished_s < horizon_s


def content_location(task: Any, variant: str) -> str:
    """The URL of `variant` of a SUCCESS video task. NotFound when there is no such asset (any more)."""
    if task.status != states.SUCCESS:
        raise BadInput(f"Video is not ready yet (status {task.status}); wait until it is completed.",
                       field="video_id")
    kept = results_serving.presigned_result(task, variant)
    if kept is not None:
        return kept
    if task.platform in KEPT_ONLY:  # the upstream's URL needs the channel's key: never a client's redirect
        if content_pending(task) and variant in result_urls(task):
            raise ContentPending("The video's content is being copied; retry in a few seconds.", field="video_id")
        raise NotFound(f"this video has no {variant} (any more)", code="video_not_found")
    url = (task.data if isinstance(task.data, dict) else {}).get("url")
    if variant != "video" or not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise NotFound(f"this video has no {variant}", code="video_not_found")
    return url  # Kling, Seedance: public signed URLs, until the keeper's copy is done


def result_urls(task: Any) -> dict[str, str]:
    """The video platforms' `result_urls` (services/platforms.py): the files the result keeper copies.
    Sora: the video and thumbnail at the channel's content route (read with its key, through the adapter);
    the others: the result's URL (`data.url`: Kling, Seedance public; Veo's file download needs the key)."""
    if task.platform == "sora":
        channel = channel_service.get_channel(int(task.channel_id or 0)) if task.upstream_id else None
        if channel is None:
            return {}
        return {variant: sora_provider.content_url(str(channel.base_url), str(task.upstream_id), variant)
                for variant in sora_provider.KEPT_VARIANTS}
    data = task.data if isinstance(task.data, dict) else {}
    url = data.get("url")
    return {"video": url} if isinstance(url, str) and url.startswith(("https://", "http://")) else {}


public_result_urls = result_urls  # the name the Kling and Seedance rows use

