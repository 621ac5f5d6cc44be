"""Task specs of the video platforms behind new-api's routes (docs/video.md, "new-api's routes"): from new-api's
TaskSubmitReq to one platform's upstream payload, price and properties.

    kling-*           -> kling  (new-api platform "50"): duration 5/10, mode std/pro
    doubao-seedance-* -> doubao (new-api platform "54"): duration 2-12, resolution 480p/720p/1080p
    veo-*             -> gemini (new-api platform "24"): duration 4-8, resolution from size (720p/1080p/4k)

The price is per second at the platform's "size" (Kling: the mode; Seedance and Veo: the resolution):
domain/video_pricing.py. `metadata` keys override the derived fields (never `model`: no price bypass).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from taskcenter.domain import json_body, numbers, video_pricing
from taskcenter.domain.errors import BadInput
from taskcenter.services.core import submission
from taskcenter.services.core.auth import Principal
from taskcenter.services.video import openai_videos, requests

KLING = "kling"
KLING_LISTING_PLATFORM = "50"  # new-api's channel type for Kling
KLING_DURATIONS = ("5", "10")
SEEDANCE_RESOLUTIONS = ("480p", "720p", "1080p")
_ASPECT = {"1280x720": "16:9", "1920x1080": "16:9", "720x1280": "9:16", "1080x1920": "9:16"}
MAX_METADATA_BYTES = 16 * 1024

Builder = Callable[[Principal, dict[str, Any], str], submission.TaskSpec]


def metadata_of(body: dict[str, Any]) -> dict[str, Any]:
    """`metadata`: an object, or a JSON string of one (new-api accepts both); `model` never (price bypass)."""
    value = body.get("metadata")
    if value is None:
        return {}
    if isinstance(value, str):
        try:  # the request body's strict parser: no NaN, huge numbers, deep nesting or lone surrogates
            value = json_body.loads(value)
        except BadInput as error:
            raise BadInput(f"metadata must be an object or a JSON string of one ({error})",
                           field="metadata") from error
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise BadInput(f"metadata must be an object of at most {MAX_METADATA_BYTES} bytes", field="metadata")
    return {k: v for k, v in value.items() if k not in ("model", "model_name")}


def seconds_of(body: dict[str, Any]) -> str | None:
    for name in ("seconds", "duration"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not numbers.is_ascii_int(str(value)) \
                or not 0 <= int(value) <= 3600:
            raise BadInput(f"{name} must be a number of seconds from 0 to 3600", code="invalid_seconds", field=name)
        return str(int(value))
    return None


def first_image(body: dict[str, Any]) -> Any:
    """The first of `images` (video-apis.md: `string[]`; absent, null or [] for none); anything else is a 400."""
    images = body.get("images")
    if images is None:
        return None
    if not isinstance(images, list):
        raise BadInput("images must be an array of image URLs or base64 strings", field="images")
    return images[0] if images else None


def _image(body: dict[str, Any]) -> str | None:
    image = body.get("image") or first_image(body) or body.get("input_reference")
    if image is not None and not isinstance(image, str):
        raise BadInput("image must be a URL or base64 string", field="image")
    # base64 is bounded by the body (one Lambda event: functions/_http.lambda_body_limit) and never stored
    # (services/video/sent_images.py); a URL is stored, and as long as a URL gets
    if image is not None and image.startswith(("http://", "https://")) and len(image) > requests.MAX_URL:
        raise BadInput(f"image URL is longer than {requests.MAX_URL} characters", field="image")
    return image


def _spec(principal: Principal, *, platform: str, listing: str, model: str, prompt: str, seconds: str, size: str,
          payload: dict[str, Any], action: str) -> submission.TaskSpec:
    try:
        quota = video_pricing.quota_for(model, size, float(seconds), principal.group)
    except KeyError as error:
        raise BadInput(f"no price is configured for {model}", field="model") from error
    task_id = openai_videos.new_video_id()
    shown = {"listing_platform": listing, "result_path": f"/v1/videos/{task_id}/content"}
    return submission.TaskSpec(
        platform=platform, kind="task", action=action, model_name=f"{video_pricing.PREFIX}{model}",
        payload={**payload, "prompt": prompt}, task_id=task_id, channel_model=model,
        properties={"input": prompt, "model": model, "seconds": seconds, "size": size},
        payload_from_properties={"prompt": "input"}, quota=quota, fields={"extra": {"shown": shown}})


def kling_spec(principal: Principal, body: dict[str, Any], model: str) -> submission.TaskSpec:
    prompt, meta, image = requests.prompt_of(body), metadata_of(body), _image(body)
    duration = str(meta.get("duration") or seconds_of(body) or "5")
    mode = str(meta.get("mode") or body.get("mode") or "std")
    if duration not in KLING_DURATIONS or mode not in ("std", "pro"):
        raise BadInput("Kling takes duration 5 or 10 and mode std or pro", field="duration")
    payload = {"cfg_scale": 0.5, "aspect_ratio": _ASPECT.get(str(body.get("size") or ""), "1:1"), **meta,
               "model_name": model, "mode": mode, "duration": duration, **({"image": image} if image else {})}
    return _spec(principal, platform=KLING, listing=KLING_LISTING_PLATFORM, model=model, prompt=prompt,
                 seconds=duration, size=mode, payload=payload, action="generate" if image else "textGenerate")


def seedance_spec(principal: Principal, body: dict[str, Any], model: str) -> submission.TaskSpec:
    prompt, meta, image = requests.prompt_of(body), metadata_of(body), _image(body)
    duration = str(meta.get("duration") or seconds_of(body) or "5")
    resolution = str(meta.get("resolution") or "720p")
    if not numbers.is_ascii_int(duration) or not 2 <= int(duration) <= 12 or resolution not in SEEDANCE_RESOLUTIONS:
        raise BadInput("Seedance takes duration 2 to 12 and resolution 480p, 720p or 1080p", field="duration")
    payload = {"model": model, "duration": int(duration), "resolution": resolution,
               "ratio": str(meta.get("ratio") or _ASPECT.get(str(body.get("size") or ""), "16:9")),
               **({"images": [image]} if image else {})}
    return _spec(principal, platform="doubao", listing="54", model=model, prompt=prompt, seconds=duration,
                 size=resolution, payload=payload, action="generate" if image else "textGenerate")


def _veo_resolution(size: str) -> str:
    """new-api's rule: the larger side >= 3840 -> 4k, >= 1920 -> 1080p, else 720p."""
    try:
        side = max(int(part) for part in size.lower().split("x"))
    except ValueError:
        return "720p"
    return "4k" if side >= 3840 else "1080p" if side >= 1920 else "720p"


def veo_spec(principal: Principal, body: dict[str, Any], model: str) -> submission.TaskSpec:
    prompt, meta = requests.prompt_of(body), metadata_of(body)
    duration = str(meta.get("durationSeconds") or seconds_of(body) or "8")
    size = str(body.get("size") or "1280x720")
    resolution = str(meta.get("resolution") or _veo_resolution(size))
    if duration not in ("4", "6", "8") or resolution not in ("720p", "1080p", "4k"):
        raise BadInput("Veo takes duration 4, 6 or 8 and resolution 720p, 1080p or 4k", field="duration")
    width, _, height = size.partition("x")
    portrait = numbers.is_ascii_int(width) and numbers.is_ascii_int(height) and int(height) > int(width)
    payload = {"model": model, "duration": int(duration), "resolution": resolution,
               "aspect_ratio": str(meta.get("aspectRatio") or ("9:16" if portrait else "16:9"))}
    image = _image(body)
    if image is not None:  # Gemini takes the image inline (new-api's Gemini adaptor: the file as base64)
        head, _, data = image.partition(",")
        if not head.startswith("data:image/") or not head.endswith(";base64") or not data:
            raise BadInput("Veo takes the image inline: send it as a file or a base64 data URL", field="image")
        payload.update(image_base64=data, image_mime=head.removeprefix("data:").removesuffix(";base64"))
    return _spec(principal, platform="gemini", listing="24", model=model, prompt=prompt, seconds=duration,
                 size=resolution, payload=payload, action="textGenerate")


def build(builder: Builder, principal: Principal, body: dict[str, Any], model: str) -> submission.TaskSpec:
    """`builder`'s spec, with the requested WxH kept for the OpenAI object's `size` (the task's own "size" is the
    platform's price tier), whichever route made it: /v1/videos or new-api's /v1/video/generations."""
    spec = builder(principal, body, model)
    extra = dict(spec.fields.get("extra") or {})
    extra["shown"] = {**(extra.get("shown") or {}), "size": str(body.get("size") or "")}
    return dataclasses.replace(spec, fields={**spec.fields, "extra": extra})


def builder_for(model: str) -> Builder | None:
    if model.startswith("kling-"):
        return kling_spec
    if model.startswith("doubao-seedance-"):
        return seedance_spec
    if model.startswith("veo-"):
        return veo_spec
    return None
