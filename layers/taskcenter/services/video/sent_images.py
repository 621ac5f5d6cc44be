"""A video request's images sent as data (base64: megabytes) go upstream from the request that brought them and
are never stored in the task item (DynamoDB's 400 KB); the task keeps the rest and the names of the fields it did
not keep, so a later resubmission is refused instead of making a video without its image
(`submission.IMAGES_NOT_KEPT`; docs/video.md, "Images"). An image given as a URL is small and kept."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskcenter.services.core import submission
from taskcenter.services.core.auth import Principal

if TYPE_CHECKING:
    from taskcenter.store.models import Task

IMAGE_FIELDS = ("image", "images", "image_base64", "input_reference")  # Kling, Seedance, Veo, Sora payloads


def _is_data(value: Any) -> bool:
    """An image as its bytes (base64, a data URL, a file part), not a link to them."""
    if isinstance(value, str):
        return not value.startswith(("http://", "https://"))
    if isinstance(value, list):
        return any(_is_data(item) for item in value)
    if isinstance(value, dict):
        return "data_base64" in value or _is_data(value.get("image_url") or "")
    return False


def submit_now(principal: Principal, spec: submission.TaskSpec) -> Task:
    """`submission.submit_now`, the images sent from this request only (the module doc)."""
    taken = [name for name in IMAGE_FIELDS if name in spec.payload and _is_data(spec.payload[name])]
    if not taken:
        return submission.submit_now(principal, spec)
    full = dict(spec.payload)
    kept = {name: value for name, value in full.items() if name not in taken}
    stored = replace(spec, payload={**kept, submission.IMAGES_NOT_KEPT: taken})
    return submission.submit_now(principal, stored, payload=full)
