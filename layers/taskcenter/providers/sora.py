"""OpenAI Sora adapter: the OpenAI Videos API as an upstream (docs/video.md, "Platforms").

- submit: `POST {base}/v1/videos`, JSON `{model, prompt, seconds, size}` (plus `input_reference` as an
  `{image_url}` object), or multipart/form-data when the client sent an image file (`input_reference`
  file part). `Authorization: Bearer <channel key>`. Reply: the video object; its `id` is the upstream id.
- remix: `POST {base}/v1/videos/{upstream source id}/remix` `{"prompt"}` (the payload's `remix_of` names
  the source's upstream id: never our public id, new-api's quirk).
- fetch: `GET {base}/v1/videos/{id}` per task (the API has no batch fetch); 404 = the upstream does not
  know it (absent from the result, the engine's poll misses decide).
- cancel: `DELETE {base}/v1/videos/{id}` is not a cancel (only terminal jobs may be deleted): False.
- results: `GET {base}/v1/videos/{id}/content?variant=video|thumbnail` needs the key too, so the result
  keeper downloads through `open_result` (the key to the channel's origin only; a redirect to a CDN is
  followed without it: providers/download.py channel_download; docs/results.md).

Status mapping (as new-api): queued/pending -> QUEUED; in_progress/processing -> IN_PROGRESS (upstream
progress kept); completed -> SUCCESS; failed/cancelled -> FAILURE (reason: the error's message, which is the
upstream's text about the user's own prompt, truncated).
"""

from __future__ import annotations

import base64
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

from urllib3 import encode_multipart_formdata

from taskcenter.domain import states
from taskcenter.providers import download, http, video_status
from taskcenter.providers.base import (
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)
from taskcenter.providers.channel_adapter import ChannelAdapter
from taskcenter.providers.video_status import Status, StatusTable

# The Videos API's statuses (the mapping rules every video platform shares: providers/video_status.py); a status
# it adds later is UNKNOWN until mapped.
STATUS = StatusTable({"queued": Status(states.QUEUED), "pending": Status(states.QUEUED),
                      "in_progress": Status(states.IN_PROGRESS), "processing": Status(states.IN_PROGRESS),
                      "completed": Status(states.SUCCESS),
                      "failed": Status(states.FAILURE), "cancelled": Status(states.FAILURE)},
                     unknown=states.UNKNOWN)
# What the video object keeps once terminal (the stored `data`): the OpenAI fields, nothing else.
OBJECT_FIELDS = ("id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at",
                 "seconds", "size", "remixed_from_video_id", "error")


def _seconds_ms(value: Any) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return number * 1000 if 0 < number < 10**11 else 0


def object_to_state(body: dict[str, Any]) -> UpstreamState | None:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return video_status.to_state(STATUS, body.get("id"), body.get("status"), progress=body.get("progress"),
                                 error_message=error.get("message"), finish_ms=_seconds_ms(body.get("completed_at")),
                                 data={name: body.get(name) for name in OBJECT_FIELDS if name in body})


class SoraProvider(ChannelAdapter):
    non_object_public = "the upstream's reply is not an object"

    def _submit_body(self, payload: dict[str, Any]) -> tuple[dict[str, str], Any]:
        fields = {name: str(payload[name]) for name in ("model", "prompt", "seconds", "size") if payload.get(name)}
        image = payload.get("input_reference")
        if isinstance(image, dict) and image.get("data_base64"):
            parts: dict[str, Any] = dict(fields)
            parts["input_reference"] = (str(image.get("filename") or "reference"),
                                        base64.b64decode(image["data_base64"]),
                                        str(image.get("content_type") or "application/octet-stream"))
            body, content_type = encode_multipart_formdata(parts)
            return {**self._headers(), "Content-Type": content_type}, body
        if isinstance(image, dict) and image.get("image_url"):
            return self._headers(), {**fields, "input_reference": {"image_url": image["image_url"]}}
        return self._headers(), fields

    def submit(self, request: SubmitRequest) -> SubmitResult:
        payload = request.payload
        source = str(payload.get("remix_of") or "")
        if source:
            reply = self._call("POST", f"/v1/videos/{quote(source, safe='')}/remix",
                               {"prompt": payload.get("prompt", "")})
        else:
            headers, body = self._submit_body(payload)
            reply = http.channel_request(self.channel, "POST", "/v1/videos", headers=headers, json_body=body)
        try:
            body = self._object(reply, "sora submit")
        except PermanentUpstreamError as error:
            error.public = "refused by the video upstream"
            raise
        state = object_to_state(body)
        if state is None:
            raise TransientUpstreamError("sora submit: reply carries no video id", status=reply.status)
        return SubmitResult(upstream_id=state.upstream_id, status=state.status if state.status in (
            states.QUEUED, states.IN_PROGRESS) else states.SUBMITTED, raw=body)

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        return video_status.fetch_each(
            upstream_ids, lambda i: self._call("GET", f"/v1/videos/{quote(i, safe='')}"),
            lambda reply: self._object(reply, "sora fetch"), object_to_state)

    def cancel(self, upstream_id: str) -> bool:
        return False

    def content_url(self, upstream_id: str, variant: str) -> str:
        return content_url(self.channel.base_url, upstream_id, variant)

    def open_result(self, url: str, *, max_bytes: int, total_timeout: float) -> AbstractContextManager[
            download.Download]:
        """Stream a result file with the channel's key (sent to the channel's own origin only)."""
        return download.channel_download(self.channel, url, self._headers(), max_bytes=max_bytes,
                                         total_timeout=total_timeout)


# The assets the result keeper copies: the video and its thumbnail (a spritesheet is not kept: docs/video.md).
KEPT_VARIANTS = ("video", "thumbnail")


def content_url(base_url: str, upstream_id: str, variant: str) -> str:
    """Where the upstream serves an asset (it needs the channel's key: only a worker of ours may fetch it)."""
    return (f"{base_url.rstrip('/')}/v1/videos/{quote(upstream_id, safe='')}/content"
            f"?variant={quote(variant, safe='')}")
