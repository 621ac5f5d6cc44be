"""`POST /v1/videos` for every configured video model (docs/video.md, "Every platform through /v1/videos").

new-api routes any video model through its OpenAI-compatible `/v1/videos` (video-apis.md B.1, B.2): the
model picks the platform (`sora-2*` Sora, `kling-*` Kling, `doubao-seedance-*` Seedance, `veo-*` Veo) and
the request is its `TaskSubmitReq`, so the per-platform mapping is the one of `/v1/video/generations`
(platform_specs.py): `seconds` (a string, as OpenAI's; an integer too, as new-api) -> the platform's
duration, `size` -> Kling's aspect ratio, Seedance's ratio, Veo's resolution and aspect ratio; `mode` and
`metadata` as new-api. The reply is the OpenAI video object (openai_videos.video_object: status and progress
mapped from the task's), not new-api's minimal one, so the SDKs' `Video` parses it.

Sora models keep the OpenAI Videos API's own rules (requests.py). JSON `input_reference` (`{"image_url"}` or
a URL string) becomes the platform's image; a multipart `input_reference` file becomes an image data URL
(Kling: the bare base64 it takes; Veo: inline bytes, as new-api's Gemini adaptor); other multipart fields as
new-api: `prompt, model, mode, image, size, seconds` read, every other field into `metadata`.
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import numbers
from taskcenter.domain.errors import BadInput
from taskcenter.services.core import idempotency
from taskcenter.services.core.auth import Principal
from taskcenter.services.video import openai_videos, platform_specs, requests

_JSON_FIELDS = ("prompt", "model", "mode", "size", "seconds", "duration", "metadata", "image", "images")
_FORM_FIELDS = ("prompt", "model", "mode", "image", "size", "seconds")


def _other_platform(model: Any) -> platform_specs.Builder | None:
    if not isinstance(model, str) or requests.family(model) is not None:
        return None  # Sora (or no model: Sora's default): the OpenAI Videos API's own rules
    builder = platform_specs.builder_for(model)
    if builder is None:
        raise BadInput(f"no video platform serves model {model[:64]}", code="model_not_found", field="model")
    return builder


def create_json(principal: Principal, body: dict[str, Any], idempotency_key: str | None) -> idempotency.Outcome:
    builder = _other_platform(body.get("model"))
    if builder is None:
        return openai_videos.create(principal, requests.parse_json(body), idempotency_key)
    converted = {name: body[name] for name in _JSON_FIELDS if body.get(name) is not None}
    if body.get("input_reference") is not None and not converted.get("image"):
        converted["image"] = requests.input_reference_of(body["input_reference"])["image_url"]
    return _create(principal, builder, converted, idempotency_key)


def create_multipart(principal: Principal, raw: bytes, content_type: str,
                     idempotency_key: str | None) -> idempotency.Outcome:
    fields, files = requests.multipart_parts(raw, content_type)
    builder = _other_platform(fields.get("model"))
    if builder is None:
        return openai_videos.create(principal, requests.parse_multipart(raw, content_type), idempotency_key)
    converted: dict[str, Any] = {k: v for k, v in fields.items() if k in _FORM_FIELDS}
    metadata = {k: _coerced(v) for k, v in fields.items() if k not in _FORM_FIELDS and k != "input_reference"}
    if metadata:
        converted["metadata"] = metadata
    reference = files.get("input_reference")
    if reference is not None and not converted.get("image"):
        converted["image"] = f"data:{reference['content_type']};base64,{reference['data_base64']}"
    elif fields.get("input_reference") and not converted.get("image"):
        converted["image"] = requests.input_reference_of(fields["input_reference"])["image_url"]
    return _create(principal, builder, converted, idempotency_key)


def _coerced(value: str) -> Any:
    """new-api coerces numeric form fields of `metadata` to numbers (finite ones; anything else stays text)."""
    if numbers.is_ascii_int(value.removeprefix("-")) and len(value) <= 18:
        return int(value)
    try:
        number = float(value)
    except ValueError:
        return value
    return number if abs(number) < float("inf") else value


def _create(principal: Principal, builder: platform_specs.Builder, body: dict[str, Any],
            idempotency_key: str | None) -> idempotency.Outcome:
    model = str(body["model"])
    image = body.get("image")
    if isinstance(image, str) and image.startswith("data:") and model.startswith("kling-"):
        body["image"] = image.split(",", 1)[-1]  # Kling takes bare base64, without the data: prefix
    spec = platform_specs.build(builder, principal, body, model)
    facts = {k: v for k, v in spec.payload.items() if k not in ("image", "images", "image_base64")}
    return openai_videos.submit_spec(principal, spec, idempotency_key, facts)
