"""Kling adapter (docs/video.md, "Platforms"; Kling API "General Information").

Auth: every request carries `Authorization: Bearer <JWT>`, HS256, claims iss = access key, exp = now + 1800,
nbf = now - 5, signed with the secret key (PyJWT). The channel's secret is `ACCESS_KEY|SECRET_KEY`, as
new-api stores it.

- submit: `POST {base}/v1/videos/text2video` (or `/image2video` when the payload has an `image`), body as
  new-api sends it (model_name, prompt, negative_prompt, image, mode, duration as a string, aspect_ratio,
  cfg_scale); reply envelope `{"code": 0, "message", "request_id", "data": {"task_id", "task_status"}}`.
  A non-zero code on a 200 is the upstream refusing the task.
- fetch: `GET {base}/v1/videos/{text2video|image2video}/{id}` per task (the action is kept as the upstream
  id's prefix `<action>:<id>`, so a fetch knows its path).

Status mapping (as new-api): submitted -> SUBMITTED, processing -> IN_PROGRESS, succeed -> SUCCESS (result
URL `task_result.videos[0].url`, duration kept for settlement), failed -> FAILURE (`task_status_msg`).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jwt

from taskcenter.domain import states
from taskcenter.providers import http
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)

TOKEN_SECONDS = 1800
_STATUS = {"submitted": states.SUBMITTED, "processing": states.IN_PROGRESS, "succeed": states.SUCCESS,
           "failed": states.FAILURE}
_PROGRESS = {states.SUBMITTED: "10%", states.IN_PROGRESS: "30%"}
ACTIONS = ("text2video", "image2video")
# What the create body may carry (new-api's KlingRequest); other keys are dropped, never forwarded.
BODY_FIELDS = ("model_name", "prompt", "negative_prompt", "image", "image_tail", "mode", "duration", "aspect_ratio",
               "cfg_scale", "camera_control", "static_mask", "dynamic_masks", "sound")


def token(access_key: str, secret_key: str, now: float | None = None) -> str:
    at = int(time.time() if now is None else now)
    return jwt.encode({"iss": access_key, "exp": at + TOKEN_SECONDS, "nbf": at - 5}, secret_key, algorithm="HS256",
                      headers={"alg": "HS256", "typ": "JWT"})


def _ms(value: Any) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if 10**11 < number < 10**14 else 0


def data_to_state(upstream_id: str, data: dict[str, Any]) -> UpstreamState | None:
    status = _STATUS.get(str(data.get("task_status") or "").lower())
    if status is None:
        return None  # an unknown word: not a state (as new-api: the row is not updated)
    result = data.get("task_result") if isinstance(data.get("task_result"), dict) else {}
    videos = result.get("videos") if isinstance(result.get("videos"), list) else []
    first = videos[0] if videos and isinstance(videos[0], dict) else {}
    kept = {"url": first.get("url"), "duration": first.get("duration"),
            "final_unit_deduction": data.get("final_unit_deduction")}
    if status == states.SUCCESS and not isinstance(first.get("url"), str):
        return UpstreamState(upstream_id=upstream_id, status=states.FAILURE, progress="100%",
                             fail_reason="the upstream reported success without a video")
    reason = str(data.get("task_status_msg") or "task failed")[:300] if status == states.FAILURE else ""
    return UpstreamState(upstream_id=upstream_id, status=status,
                         progress="100%" if status in states.TERMINAL else _PROGRESS[status],
                         fail_reason=reason, finish_ms=_ms(data.get("updated_at")) if status in states.TERMINAL else 0,
                         data={k: v for k, v in kept.items() if v is not None})


class KlingProvider:
    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel

    def _headers(self) -> dict[str, str]:
        access, _, secret = self.channel.secret.partition("|")
        if not access or not secret:
            raise TransientUpstreamError(f"channel {self.channel.id}: the Kling key is not ACCESS_KEY|SECRET_KEY",
                                         public="the channel's credential is not usable")
        return {"Authorization": f"Bearer {token(access, secret)}"}

    def _envelope(self, reply: http.HttpReply, what: str) -> dict[str, Any]:
        http.classify_status(reply, what, secret=self.channel.secret)
        body = reply.json()
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            raise TransientUpstreamError(f"{what}: reply is not Kling's envelope", status=reply.status)
        return body

    def submit(self, request: SubmitRequest) -> SubmitResult:
        payload = request.payload
        action = "image2video" if payload.get("image") else "text2video"
        body = {k: payload[k] for k in BODY_FIELDS if payload.get(k) is not None}
        body["model"] = body.get("model_name")  # new-api sends both
        reply = http.channel_request(self.channel, "POST", f"/v1/videos/{action}", headers=self._headers(),
                                     json_body=body)
        try:
            envelope = self._envelope(reply, "kling submit")
        except PermanentUpstreamError as error:
            error.public = "refused by the video upstream"
            raise
        if envelope["code"] != 0:
            raise PermanentUpstreamError(f"kling submit refused: code {envelope['code']}", status=reply.status,
                                         public="refused by the video upstream")
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        upstream = data.get("task_id")
        if not isinstance(upstream, str) or not upstream:
            raise TransientUpstreamError("kling submit: no task_id", status=reply.status)
        return SubmitResult(upstream_id=f"{action}:{upstream}", status=states.SUBMITTED, raw=envelope)

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        out: dict[str, UpstreamState] = {}
        for upstream_id in dict.fromkeys(i for i in upstream_ids if i):
            action, _, kling_id = upstream_id.partition(":")
            if action not in ACTIONS or not kling_id:
                continue
            reply = http.channel_request(self.channel, "GET", f"/v1/videos/{action}/{quote(kling_id, safe='')}",
                                         headers=self._headers())
            if reply.status == 404:
                continue
            try:
                envelope = self._envelope(reply, "kling fetch")
            except PermanentUpstreamError as error:
                raise TransientUpstreamError(error.message, status=error.status) from error
            data = envelope.get("data")
            if envelope["code"] != 0 or not isinstance(data, dict):
                continue  # not known (or an error about it): absent, the poller counts misses
            state = data_to_state(upstream_id, data)
            if state is not None:
                out[upstream_id] = state
        return out

    def cancel(self, upstream_id: str) -> bool:
        return False
