"""Midjourney relay requests: validation of every submit body, customId parsing, the images a body carries.

Split from services.midjourney.relay (which submits and shapes replies); docs/midjourney.md lists the
routes and bodies, docs/compatibility.md what differs from new-api and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from taskcenter.domain import numbers, states
from taskcenter.domain.errors import BadInput, DomainError, NotFound

PLATFORM = "midjourney"
KIND = "mj"
MAX_PROMPT = 8000
MAX_STATE = 1000
BOT_TYPES = ("MID_JOURNEY", "NIJI_JOURNEY")
DIMENSIONS = ("PORTRAIT", "SQUARE", "LANDSCAPE")
CHANGE_ACTIONS = ("UPSCALE", "VARIATION", "REROLL")

# midjourney-proxy reply codes
CODE_OK = 1
CODE_BAD_REQUEST = 4


class MjRefused(DomainError):
    """A relay refusal with midjourney-proxy's numeric code."""

    http_status = 400
    code = "invalid_request"

    def __init__(self, message: str, mj_code: int = CODE_BAD_REQUEST, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.mj_code = mj_code
        self.http_status = http_status


@dataclass(frozen=True)
class MjSubmission:
    kind: str  # upstream submit kind: imagine, action, blend, describe, modal, shorten, change, edits, video, swap
    action: str  # our task action: IMAGINE, UPSCALE, VARIATION, ...
    body: dict[str, Any]  # what goes to the upstream (taskId added by the adapter)
    properties: dict[str, Any] = field(default_factory=dict)  # request facts the surfaces show
    parent_id: str = ""  # our id of the task this acts on
    parent_status: str = ""  # the parent status this needs (SUCCESS, or MODAL for a modal)
    notify_hook: str = ""  # the client's callback URL: gets the task object on each change (docs/webhooks.md)

    model: str = ""  # pricing key when it is not mj_<action> (new-api: swap_face)

    @property
    def model_name(self) -> str:
        return self.model or f"mj_{self.action.lower()}"


# ---------------------------------------------------------------- validation
def _text(body: dict[str, Any], name: str, *, required: bool = False, limit: int = MAX_PROMPT) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadInput(f"{name} is required", field=name)
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string", field=name)
    value = value.strip()
    if required and not value:
        raise BadInput(f"{name} must not be blank", field=name)
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", field=name)
    return value


# ASCII only: `\s` would also take Unicode spaces (U+3000 is 3 bytes in the body, 6 as stored), not base64.
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+$", re.ASCII)


def _image(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _DATA_URL.match(value):
        raise BadInput(f"{name} must be a base64 data URL (data:image/png;base64,...)", field=name)
    return value


def _images(body: dict[str, Any], name: str, *, low: int, high: int) -> list[str]:
    value = body.get(name)
    if value is None and low == 0:
        return []
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise BadInput(f"{name} must be a list of {low} to {high} base64 images", field=name)
    return [_image(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _common(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fields every submit accepts: state (echoed back), botType (notifyHook: relay.submit, notify.py)."""
    state = _text(body, "state", limit=MAX_STATE)
    bot_type = _text(body, "botType", limit=32) or "MID_JOURNEY"
    if bot_type not in BOT_TYPES:
        raise BadInput(f"botType must be one of {', '.join(BOT_TYPES)}", field="botType")
    return {"botType": bot_type}, {"state": state, "botType": bot_type}


def _id_as_text(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Ids are numeric strings; clients that send them as JSON numbers are understood too."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return {**body, name: str(value)}
    return body


def action_of_custom_id(custom_id: str) -> tuple[str, int]:
    """(action, index) for a button's customId, as new-api maps them; BadInput for an unknown one.

    MJ::JOB::upsample::2::<hash> -> UPSCALE 2; MJ::JOB::variation::1::<hash> -> VARIATION 1;
    low_variation / high_variation / reroll / pan_* -> LOW_VARIATION / HIGH_VARIATION / REROLL / PAN;
    MJ::Outpaint::... -> ZOOM; MJ::CustomZoom::... -> CUSTOM_ZOOM; MJ::Inpaint::... -> INPAINT.
    """
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        raise MjRefused(f"unknown_action: customId {custom_id[:100]!r} is not a Midjourney button")
    name = parts[2] if parts[1].upper() == "JOB" else parts[1]

    def index_at(i: int) -> int:
        raw = parts[i] if len(parts) > i else ""
        if not numbers.is_ascii_int(raw, max_digits=1) or not 1 <= int(raw) <= 4:  # "²" / "٣": not an index
            raise MjRefused(f"unknown_action: customId {custom_id[:100]!r} has no button index 1-4")
        return int(raw)

    if "upsample" in name:
        return "UPSCALE", index_at(3)
    if name == "variation":
        return "VARIATION", index_at(3)
    if name == "low_variation":
        return "LOW_VARIATION", 1
    if name == "high_variation":
        return "HIGH_VARIATION", 1
    if "reroll" in name:
        return "REROLL", 1
    if "pan" in name:
        return "PAN", 1
    fixed = {"Outpaint": "ZOOM", "CustomZoom": "CUSTOM_ZOOM", "Inpaint": "INPAINT"}
    if name in fixed:
        return fixed[name], 1
    raise MjRefused(f"unknown_action: {custom_id[:100]}")


def parse_submission(kind: str, body: dict[str, Any]) -> MjSubmission:
    """Validate one submit body. Raises BadInput / MjRefused (code 4) before anything is written."""
    if kind in ("edits", "video", "swap"):
        return parse_media(kind, body)
    upstream, props = _common(body)
    if kind == "imagine":
        prompt = _text(body, "prompt", required=True)
        images = _images(body, "base64Array", low=0, high=5)
        upstream.update(prompt=prompt, base64Array=images)
        props.update(prompt=prompt, images=len(images))
        return MjSubmission(kind, "IMAGINE", upstream, props)
    if kind == "blend":
        images = _images(body, "base64Array", low=2, high=5)
        dimensions = (_text(body, "dimensions", limit=16) or "SQUARE").upper()
        if dimensions not in DIMENSIONS:
            raise BadInput(f"dimensions must be one of {', '.join(DIMENSIONS)}", field="dimensions")
        upstream.update(base64Array=images, dimensions=dimensions)
        props.update(prompt="", images=len(images), dimensions=dimensions)
        return MjSubmission(kind, "BLEND", upstream, props)
    if kind == "describe":
        image = _image(body.get("base64"), "base64")
        upstream.update(base64=image)
        props.update(prompt="", images=1)
        return MjSubmission(kind, "DESCRIBE", upstream, props)
    if kind == "shorten":
        prompt = _text(body, "prompt", required=True)
        upstream.update(prompt=prompt)
        props.update(prompt=prompt)
        return MjSubmission(kind, "SHORTEN", upstream, props)
    if kind == "simple-change":
        return _simple_change(body, upstream, props)
    parent_id = _text(_id_as_text(body, "taskId"), "taskId", required=True, limit=64)
    if kind == "action":
        custom_id = _text(body, "customId", required=True, limit=500)
        action, index = action_of_custom_id(custom_id)
        upstream.update(customId=custom_id)
        props.update(customId=custom_id, index=index)
        return MjSubmission(kind, action, upstream, props, parent_id, states.SUCCESS)
    if kind == "change":
        action = _text(body, "action", required=True, limit=32).upper()
        if action not in CHANGE_ACTIONS:
            raise BadInput(f"action must be one of {', '.join(CHANGE_ACTIONS)}", field="action")
        index = body.get("index")
        if action == "REROLL" and index in (None, ""):
            index = 0
        if isinstance(index, bool) or not isinstance(index, int) or not (0 if action == "REROLL" else 1) <= index <= 4:
            raise BadInput("index must be an integer from 1 to 4", field="index")
        upstream.update(action=action, index=index)
        props.update(index=index)
        return MjSubmission(kind, action, upstream, props, parent_id, states.SUCCESS)
    if kind == "modal":
        prompt = _text(body, "prompt")
        mask = body.get("maskBase64")
        if mask not in (None, ""):
            upstream.update(maskBase64=_image(mask, "maskBase64"))
        upstream.update(prompt=prompt)
        props.update(prompt=prompt)
        return MjSubmission(kind, "MODAL", upstream, props, parent_id, states.MODAL)
    raise NotFound(f"unknown Midjourney submit action {kind!r}")


_SIMPLE_CHANGE = re.compile(r"^\s*([0-9A-Za-z_-]{1,64})\s+([UVR])([1-4]?)\s*$", re.ASCII)
_SIMPLE_ACTIONS = {"U": "UPSCALE", "V": "VARIATION", "R": "REROLL"}


def _simple_change(body: dict[str, Any], upstream: dict[str, Any], props: dict[str, Any]) -> MjSubmission:
    """`{"content": "<taskId> U2"}` (midjourney-proxy's simple-change): the same job as /change."""
    content = _text(body, "content", required=True, limit=100)
    found = _SIMPLE_CHANGE.match(content)
    if not found or (found.group(2) != "R") != bool(found.group(3)):
        raise BadInput('content must be "<taskId> U1".."U4", "V1".."V4" or "R"', field="content")
    action, index = _SIMPLE_ACTIONS[found.group(2)], int(found.group(3) or 0)
    upstream.update(action=action, index=index)
    props.update(index=index)
    return MjSubmission("change", action, upstream, props, found.group(1), states.SUCCESS)


def _image_or_url(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value in (None, ""):
        return ""
    if isinstance(value, str) and re.match(r"^https?://", value) and len(value) <= 2000:
        return value
    return _image(value, name)


def parse_media(kind: str, body: dict[str, Any]) -> MjSubmission:
    """edits, video and face swap (the routes new-api added after midjourney-proxy 2.x)."""
    upstream, props = _common(body)
    if kind == "edits":
        prompt = _text(body, "prompt", required=True)
        upstream.update(prompt=prompt, image=_image(body.get("image"), "image"))
        if body.get("maskBase64") not in (None, ""):
            upstream["maskBase64"] = _image(body.get("maskBase64"), "maskBase64")
        props.update(prompt=prompt, images=1)
        return MjSubmission(kind, "EDITS", upstream, props)
    if kind == "video":
        prompt = _text(body, "prompt")
        motion = (_text(body, "motion", limit=8) or "low").lower()
        if motion not in ("low", "high"):
            raise BadInput("motion must be low or high", field="motion")
        mode = _text(body, "mode", limit=8).upper()
        if mode and mode not in ("FAST", "RELAX", "TURBO"):
            raise BadInput("mode must be FAST, RELAX or TURBO", field="mode")
        upstream.update(prompt=prompt, motion=motion, **({"mode": mode} if mode else {}))
        for name in ("image", "base64"):
            if value := _image_or_url(body, name):
                upstream[name] = value
        parent_id = _text(_id_as_text(body, "taskId"), "taskId", limit=64)
        if not parent_id and not (upstream.get("image") or upstream.get("base64")):
            raise BadInput("video needs an image (image or base64) or the taskId of an image task", field="image")
        props.update(prompt=prompt, images=int(bool(upstream.get("image"))) + int(bool(upstream.get("base64"))))
        return MjSubmission(kind, "VIDEO", upstream, props, parent_id, states.SUCCESS if parent_id else "")
    if kind == "swap":
        upstream = {"sourceBase64": _image(body.get("sourceBase64"), "sourceBase64"),
                    "targetBase64": _image(body.get("targetBase64"), "targetBase64")}
        props.update(prompt="InsightFace", images=2)
        return MjSubmission(kind, "SWAP_FACE", upstream, props, model="swap_face")
    raise NotFound(f"unknown Midjourney submit action {kind!r}")


def parse_upload(body: dict[str, Any]) -> list[str]:
    """upload-discord-images: `{"base64Array": [dataURL, ...]}` (1 to 5 images)."""
    return _images(body, "base64Array", low=1, high=5)


# Fields that carry images (data URLs of up to megabytes): never stored in the task item (400 KB), only
# sent upstream from the request that brought them (docs/midjourney.md, "Large images").
IMAGE_FIELDS = ("base64Array", "base64", "maskBase64", "image", "sourceBase64", "targetBase64")


def without_images(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(body without its image fields, the names taken out)."""
    taken = [name for name in IMAGE_FIELDS
             if isinstance(body.get(name), list) and body[name]
             or isinstance(body.get(name), str) and body[name].startswith("data:")]
    return {k: v for k, v in body.items() if k not in taken}, taken


