"""The setup every JSON-over-HTTP provider adapter shares (docs/video.md, docs/suno.md): its channel, the channel's
credential header, and a reply checked and read as one JSON object (the channel's secret redacted from any
error: providers/http.py)."""

from __future__ import annotations

from typing import Any

from taskcenter.providers import http
from taskcenter.providers.base import ChannelInfo, TransientUpstreamError


class ChannelAdapter:
    non_object_public = ""  # what a user is shown for a non-object reply ("": UpstreamError's default)

    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel

    def _headers(self) -> dict[str, str]:
        """`Authorization: Bearer <secret>` (an adapter with another scheme overrides this)."""
        return {"Authorization": f"Bearer {self.channel.secret}"} if self.channel.secret else {}

    def _call(self, method: str, path: str, json_body: Any = None) -> http.HttpReply:
        """`method path` on the channel's upstream with its credential (providers/http.py: origin-pinned)."""
        return http.channel_request(self.channel, method, path, headers=self._headers(), json_body=json_body)

    def _object(self, reply: http.HttpReply, what: str) -> dict[str, Any]:
        """The reply's JSON object; an error status or a non-object reply raises (providers/http.py decides which)."""
        http.classify_status(reply, what, secret=self.channel.secret)
        body = reply.json()
        if not isinstance(body, dict):
            raise TransientUpstreamError(f"{what}: upstream answered a non-object", status=reply.status,
                                         public=self.non_object_public)
        return body
