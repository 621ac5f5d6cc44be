"""Google Veo through the Gemini API (long-running operations; docs/video.md, "Platforms").

- submit: `POST {base}/v1beta/models/{model}:predictLongRunning`, header `x-goog-api-key: <key>`, body
  `{"instances": [{"prompt", "image"?}], "parameters": {"sampleCount": 1, "durationSeconds", "aspectRatio",
  "resolution"}}`; reply `{"name": "models/<model>/operations/<id>"}` (the upstream id).
- fetch: `GET {base}/v1beta/{name}` per task: `done: false` -> IN_PROGRESS (50%); `error.message` -> FAILURE;
  `done: true` -> SUCCESS with `response.generateVideoResponse.generatedSamples[0].video.uri` (also the
  `response.videos[0]` variant new-api tolerates). The URI needs the API key to download, so the result
  keeper downloads through `open_result`: the key (header, never the `key=` query: URLs get logged) goes to
  the channel's own origin only, and the file download's redirect to Google's storage host is followed
  without it (providers/download.py channel_download; docs/results.md).
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

from taskcenter.domain import states
from taskcenter.providers import download
from taskcenter.providers.base import (
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)
from taskcenter.providers.channel_adapter import ChannelAdapter

_OPERATION = re.compile(r"models/[A-Za-z0-9.\-]+/operations/[A-Za-z0-9_\-]+")


def _uri(response: dict[str, Any]) -> str | None:
    generated = response.get("generateVideoResponse") if isinstance(response.get("generateVideoResponse"), dict) else {}
    samples = generated.get("generatedSamples") if isinstance(generated.get("generatedSamples"), list) else []
    videos = samples or (response.get("videos") if isinstance(response.get("videos"), list) else [])
    first = videos[0] if videos and isinstance(videos[0], dict) else {}
    video = first.get("video") if isinstance(first.get("video"), dict) else first
    uri = video.get("uri") if isinstance(video, dict) else None
    return uri if isinstance(uri, str) and uri else None


def operation_to_state(name: str, body: dict[str, Any]) -> UpstreamState:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    if error.get("message"):
        return UpstreamState(upstream_id=name, status=states.FAILURE, progress="100%",
                             fail_reason=str(error["message"])[:300])
    if not body.get("done"):
        return UpstreamState(upstream_id=name, status=states.IN_PROGRESS, progress="50%")
    uri = _uri(body.get("response") if isinstance(body.get("response"), dict) else {})
    if uri is None:
        return UpstreamState(upstream_id=name, status=states.FAILURE, progress="100%",
                             fail_reason="the upstream reported success without a video")
    return UpstreamState(upstream_id=name, status=states.SUCCESS, progress="100%", data={"url": uri})


class VeoProvider(ChannelAdapter):
    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.channel.secret} if self.channel.secret else {}

    def submit(self, request: SubmitRequest) -> SubmitResult:
        p = request.payload
        instance: dict[str, Any] = {"prompt": str(p.get("prompt") or "")}
        if p.get("image_base64"):
            instance["image"] = {"bytesBase64Encoded": p["image_base64"], "mimeType": p.get("image_mime", "image/png")}
        body = {"instances": [instance], "parameters": {
            "sampleCount": 1, "durationSeconds": int(p.get("duration") or 8),
            "aspectRatio": p.get("aspect_ratio") or "16:9", "resolution": p.get("resolution") or "720p"}}
        model = quote(str(p.get("model") or ""), safe="")
        reply = self._call("POST", f"/v1beta/models/{model}:predictLongRunning", body)
        try:
            created = self._object(reply, "veo submit")
        except PermanentUpstreamError as error:
            error.public = "refused by the video upstream"
            raise
        name = created.get("name")
        if not isinstance(name, str) or not _OPERATION.fullmatch(name):
            raise TransientUpstreamError("veo submit: reply names no operation", status=reply.status)
        return SubmitResult(upstream_id=name, status=states.IN_PROGRESS, raw=created)

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        out: dict[str, UpstreamState] = {}
        for name in dict.fromkeys(i for i in upstream_ids if i):
            if not _OPERATION.fullmatch(name):
                continue
            reply = self._call("GET", f"/v1beta/{name}")
            if reply.status == 404:
                continue
            try:
                body = self._object(reply, "veo fetch")
            except PermanentUpstreamError as error:
                raise TransientUpstreamError(error.message, status=error.status) from error
            out[name] = operation_to_state(name, body)
        return out

    def cancel(self, upstream_id: str) -> bool:
        return False

    def open_result(self, url: str, *, max_bytes: int, total_timeout: float) -> AbstractContextManager[
            download.Download]:
        """Stream the video file with the channel's key (sent to the channel's own origin only)."""
        return download.channel_download(self.channel, url, self._headers(), max_bytes=max_bytes,
                                         total_timeout=total_timeout)
