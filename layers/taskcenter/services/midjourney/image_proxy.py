"""Image forwarding for Midjourney results (`GET /mj/image/{id}`), on by default (`MJ_FORWARD_IMAGES`).

The upstream's image URL is fetched through the SSRF-safe client (providers.http): private, loopback,
link-local (cloud metadata) and other non-public addresses are refused, on every redirect hop and
whatever the DNS answers; the body is capped (`MJ_IMAGE_MAX_BYTES`, default 4 MiB: a Lambda response
carries at most 6 MB, base64 adds a third) and so is the time (`MJ_IMAGE_TIMEOUT_SECONDS`, default 20
for the whole exchange). Only raster images are passed on (png, jpeg, webp, gif): anything else (HTML,
SVG) could run script under our domain. Each refusal says why, in our words: no host name or address
(those go to the log). An image URL that cannot be parsed is the upstream's fault (502).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskcenter import settings
from taskcenter.domain.errors import DomainError
from taskcenter.observability import logger
from taskcenter.providers import http
from taskcenter.providers.base import UpstreamError
from taskcenter.services.core.submission import extra_of

if TYPE_CHECKING:
    from taskcenter.store.models import Task

ALLOWED_TYPES = {"image/png": "image/png", "image/jpeg": "image/jpeg", "image/jpg": "image/jpeg",
                 "image/pjpeg": "image/jpeg", "image/webp": "image/webp", "image/gif": "image/gif"}


class ImageRefused(DomainError):
    """The image could not or must not be forwarded; `message` says why."""

    code = "image_refused"

    def __init__(self, message: str, http_status: int, mj_code: int = 4) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.mj_code = mj_code


@dataclass(frozen=True)
class Image:
    body: bytes
    content_type: str


def fetch_image(url: str) -> Image:
    """Download one image from an upstream URL, with every safety rule above. Raises ImageRefused."""
    if not url:
        raise ImageRefused("the task has no image yet", 404)
    timeout, limit = settings.get().mj_image_timeout_seconds, settings.get().mj_image_max_bytes
    try:
        # A public image URL carries no credential: redirects to other origins are followed (each hop vetted).
        reply = http.request("GET", url, headers={"Accept": "image/*"}, max_bytes=limit,
                             total_timeout=timeout, read_timeout=min(10.0, timeout),
                             retries=0, same_origin_only=False)
    except UpstreamError as error:
        # The reply names no host or address (the public text); the log keeps the details.
        logger.info("image not forwarded", extra={"error": type(error).__name__, "reason": error.message})
        if isinstance(error, http.RefusedDestination):  # refused address, not http(s), credentials, https -> http
            raise ImageRefused(f"image forwarding refused: {error.public}", 403) from error
        status = 504 if isinstance(error, http.UpstreamTimeout) else 502  # too large, unreachable, bad URL
        raise ImageRefused(f"image could not be fetched from the upstream: {error.public}", status, 5) from error
    if reply.status != 200:
        raise ImageRefused(f"image could not be fetched from the upstream: HTTP {reply.status}", 502, 5)
    declared = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    content_type = ALLOWED_TYPES.get(declared)
    if content_type is None:
        raise ImageRefused(f"image forwarding refused: the upstream answered {declared or 'no content type'}, "
                           "not a png, jpeg, webp or gif image", 502, 5)
    return Image(reply.body, content_type)


def result_urls(task: Task) -> dict[str, str]:
    """The platform row's hook (docs/results.md): an MJ task's one result file, its image."""
    return {"image": str(extra_of(task).get("image_url") or "")}
