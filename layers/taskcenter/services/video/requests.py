"""Validation of the OpenAI Videos API's create and remix bodies (docs/video.md, "Routes").

`POST /v1/videos` takes JSON or multipart/form-data (an `input_reference` image file); both become one
`CreateRequest`. Rules (the OpenAI reference): `prompt` 1-32000 characters; `model` sora-2 (default),
sora-2-pro or a dated snapshot of them; `seconds` a **string** "4" (default), "8" or "12" (an integer is
refused, as OpenAI does); `size` per model (sora-2: 720x1280 (default), 1280x720; sora-2-pro also
1024x1792, 1792x1024, 1920x1080, 1080x1920). `input_reference`: a jpg/png/webp file part, or in JSON
`{"image_url": <https URL or data URL>}` (or that URL as a plain string, new-api's form); `{"file_id"}`
needs the Files API, which we do not serve: refused.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from taskcenter.domain.errors import BadInput

MAX_PROMPT = 32_000
DEFAULT_MODEL = "sora-2"
DEFAULT_SECONDS = "4"
SECONDS = ("4", "8", "12")
DEFAULT_SIZE = "720x1280"
_SIZES = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024", "1920x1080", "1080x1920"),
}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_URL = 2048


@dataclass(frozen=True)
class CreateRequest:
    prompt: str
    model: str
    seconds: str
    size: str
    # {image_url}, or a file: {filename, content_type, data_base64}
    input_reference: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt, "seconds": self.seconds,
                                "size": self.size}
        if self.input_reference:
            body["input_reference"] = dict(self.input_reference)
        return body


def family(model: str) -> str | None:
    for name in ("sora-2-pro", "sora-2"):
        if model == name or model.startswith(name + "-20"):
            return name
    return None


def prompt_of(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput("prompt is required (a string of 1 to 32000 characters)", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise BadInput(f"prompt is longer than {MAX_PROMPT} characters", field="prompt")
    return prompt


def _model(body: dict[str, Any]) -> str:
    model = body.get("model", DEFAULT_MODEL)
    if model is None:
        model = DEFAULT_MODEL
    if not isinstance(model, str) or family(model) is None or len(model) > 64:
        raise BadInput("model must be sora-2, sora-2-pro or one of their snapshots", field="model")
    return model


def _seconds(body: dict[str, Any]) -> str:
    seconds = body.get("seconds", DEFAULT_SECONDS)
    if seconds is None:
        seconds = DEFAULT_SECONDS
    if not isinstance(seconds, str) or seconds not in SECONDS:
        raise BadInput("Invalid value for seconds: expected one of '4', '8', or '12'", field="seconds")
    return seconds


def _size(body: dict[str, Any], model: str) -> str:
    size = body.get("size", DEFAULT_SIZE)
    if size is None:
        size = DEFAULT_SIZE
    allowed = _SIZES[family(model) or DEFAULT_MODEL]
    if not isinstance(size, str) or size not in allowed:
        raise BadInput(f"Invalid value for size with {model}: expected one of {', '.join(allowed)}", field="size")
    return size


def input_reference_of(value: Any) -> dict[str, Any]:
    """JSON `input_reference` (`{"image_url"}` or the URL as a string) -> {"image_url": url}; 400 otherwise."""
    return _image_url(value)


def _image_url(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"image_url": value}
    if not isinstance(value, dict):
        raise BadInput("input_reference must be an object with image_url", field="input_reference")
    if "file_id" in value:
        raise BadInput("input_reference.file_id is not supported here: send the image as a file or image_url",
                       field="input_reference")
    url = value.get("image_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
        raise BadInput("input_reference.image_url must be an http(s) URL or an image data URL",
                       field="input_reference")
    if not url.startswith("data:") and len(url) > MAX_URL:
        raise BadInput(f"input_reference.image_url is longer than {MAX_URL} characters", field="input_reference")
    return {"image_url": url}


def parse_json(body: dict[str, Any]) -> CreateRequest:
    prompt = prompt_of(body)
    model = _model(body)
    reference = body.get("input_reference")
    return CreateRequest(prompt=prompt, model=model, seconds=_seconds(body), size=_size(body, model),
                         input_reference=_image_url(reference) if reference is not None else {})


def parse_multipart(raw: bytes, content_type: str) -> CreateRequest:
    """multipart/form-data (the SDK's form when `input_reference` is a file). Text fields as in JSON."""
    fields, files = multipart_parts(raw, content_type)
    reference = files.get("input_reference") or {}
    if "input_reference" in fields and not reference:
        reference = _image_url(fields.pop("input_reference"))
    request = parse_json({k: v for k, v in fields.items() if k in ("prompt", "model", "seconds", "size")})
    return CreateRequest(prompt=request.prompt, model=request.model, seconds=request.seconds, size=request.size,
                         input_reference=reference)


def multipart_parts(raw: bytes, content_type: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """A multipart/form-data body: (text fields, {name: {filename, content_type, data_base64}} of image files:
    only `input_reference`, a jpeg/png/webp image)."""
    if "boundary=" not in content_type:
        raise BadInput("multipart/form-data needs a boundary")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise BadInput("the multipart body could not be read")
    fields: dict[str, str] = {}
    files: dict[str, dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        content = part.get_payload(decode=True) or b""
        if name == "input_reference" and part.get_filename() is not None:
            kind = part.get_content_type()
            if kind not in IMAGE_TYPES:
                raise BadInput("input_reference must be a jpeg, png or webp image", field="input_reference")
            files[name] = {"filename": str(part.get_filename())[:200], "content_type": kind,
                           "data_base64": base64.b64encode(content).decode()}
            continue
        try:
            fields[name] = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadInput(f"form field {name[:40]} is not UTF-8 text", field=name[:40]) from error
    return fields, files
