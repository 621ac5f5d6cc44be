"""Doubao Seedance on Volcengine Ark (content generation tasks; docs/video.md, "Platforms").

- submit: `POST {base}/api/v3/contents/generations/tasks`, `Authorization: Bearer <ARK key>`, body
  `{model, content: [image_url items..., {type: "text", text}], duration, resolution, ratio}` (images first and
  the prompt last, as new-api); reply `{"id": "cgt-..."}`.
- fetch: `GET {base}/api/v3/contents/generations/tasks/{id}` per task.

Status mapping: queued/pending -> QUEUED (10%), running/processing -> IN_PROGRESS (50%), succeeded -> SUCCESS
(`content.video_url`), failed -> FAILURE (`error.message`). Unlike new-api (which leaves them in progress until
its timeout sweep), Ark's terminal `cancelled` and `expired` end the task as FAILURE at once (refunded).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from taskcenter.domain import states
from taskcenter.providers import video_status
from taskcenter.providers.base import (
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)
from taskcenter.providers.channel_adapter import ChannelAdapter
from taskcenter.providers.video_status import Status, StatusTable

PATH = "/api/v3/contents/generations/tasks"
# Ark's task statuses (the mapping rules every video platform shares: providers/video_status.py).
STATUS = StatusTable({"queued": Status(states.QUEUED, 10), "pending": Status(states.QUEUED, 10),
                      "running": Status(states.IN_PROGRESS, 50), "processing": Status(states.IN_PROGRESS, 50),
                      "succeeded": Status(states.SUCCESS), "failed": Status(states.FAILURE),
                      "cancelled": Status(states.FAILURE), "expired": Status(states.FAILURE)})


def task_to_state(body: dict[str, Any]) -> UpstreamState | None:
    content = body.get("content") if isinstance(body.get("content"), dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    data = {"url": content.get("video_url"), "duration": body.get("duration"), "resolution": body.get("resolution"),
            "total_tokens": usage.get("total_tokens")}
    return video_status.to_state(STATUS, body.get("id"), body.get("status"), error_message=error.get("message"),
                                 has_result=isinstance(content.get("video_url"), str),
                                 data={k: v for k, v in data.items() if v is not None})


class SeedanceProvider(ChannelAdapter):
    def submit(self, request: SubmitRequest) -> SubmitResult:
        p = request.payload
        content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}
                                         for url in p.get("images") or []]
        content.append({"type": "text", "text": str(p.get("prompt") or "")})
        body = {"model": p.get("model"), "content": content, "duration": int(p.get("duration") or 5),
                "resolution": p.get("resolution") or "720p", "ratio": p.get("ratio") or "16:9"}
        reply = self._call("POST", PATH, body)
        try:
            created = self._object(reply, "seedance submit")
        except PermanentUpstreamError as error:
            error.public = "refused by the video upstream"
            raise
        upstream_id = created.get("id")
        if not isinstance(upstream_id, str) or not upstream_id:
            raise TransientUpstreamError("seedance submit: no task id", status=reply.status)
        return SubmitResult(upstream_id=upstream_id, status=states.QUEUED, raw=created)

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        return video_status.fetch_each(
            upstream_ids, lambda i: self._call("GET", f"{PATH}/{quote(i, safe='')}"),
            lambda reply: self._object(reply, "seedance fetch"), task_to_state)

    def cancel(self, upstream_id: str) -> bool:
        return False
