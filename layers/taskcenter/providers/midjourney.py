"""midjourney-proxy adapter: submit, batch state through list-by-condition, no cancel.

Protocol (behaviour-notes.md): header `mj-api-secret`; `POST {base}/mj/submit/<kind>` answers
`{"code", "description", "result": "<upstream id>", "properties"}` where 1 (accepted), 21 (exists,
e.g. a modal window waiting) and 22 (queued) are acceptances, 23 (queue full) is a temporary refusal
(another channel may take it), 24 (banned prompt) and anything else a refusal. `POST
{base}/mj/task/list-by-condition {"ids": [...]}` answers the known tasks as a list (camelCase).

The relay puts `{"kind": "<submit kind>", "body": {...}}` in the submit payload; this adapter adds the
parent's upstream id as `taskId` for actions on an earlier task.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from taskcenter import settings
from taskcenter.domain import states
from taskcenter.providers import http, relayable
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamError,
    UpstreamState,
)

SUBMIT_KINDS = frozenset({"imagine", "action", "blend", "describe", "modal", "shorten", "change", "edits",
                          "video", "swap"})
PARENT_KINDS = frozenset({"action", "modal", "change"})  # video takes a parent too, when it names one
SUBMIT_PATHS = {"swap": "/mj/insight-face/swap"}  # else /mj/submit/<kind>
ACCEPTED_CODES = frozenset({1, 21, 22})
QUEUE_FULL = 23
# midjourney-proxy's ReturnCode values, in our words (what a user is shown for a refusal).
REFUSAL_WORDS = {3: "not found", 4: "validation error", 9: "upstream failure", 24: "banned prompt"}

MAX_PROPERTIES_CHARS = 8000  # the submit properties kept on the task: a few keys in practice

# midjourney-proxy status -> ours. NOT_START upstream means it is queued there: SUBMITTED for us.
STATUS_MAP = {
    "": states.SUBMITTED,
    "NOT_START": states.SUBMITTED,
    "SUBMITTED": states.SUBMITTED,
    "MODAL": states.MODAL,
    "IN_PROGRESS": states.IN_PROGRESS,
    "SUCCESS": states.SUCCESS,
    "FAILURE": states.FAILURE,
    "CANCEL": states.FAILURE,
}

# What the upstream reports that the surfaces show, kept in task.data (raw) and these in task.extra.
EXTRA_FIELDS = ("imageUrl", "promptEn", "description", "buttons")


def _progress(value: Any, status: str) -> str:
    if status == states.SUCCESS:
        return "100%"
    text = str(value or "").strip()
    if not text:
        return ""
    return text if text.endswith("%") else f"{text}%"


def _ms(value: Any) -> int:
    """A time in ms or a small code (button type, style); nonsense is 0 (1e100 would be a 101-digit number
    DynamoDB refuses, as in providers/suno.py)."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):  # 1e999 parses as infinity
        return 0
    return number if 0 < number < 10**14 else 0


def state_of(item: dict[str, Any]) -> UpstreamState:
    """One midjourney-proxy task (list-by-condition item) in our vocabulary."""
    raw_status = str(item.get("status") or "").upper()
    status = STATUS_MAP.get(raw_status, states.UNKNOWN)
    buttons = item.get("buttons") if isinstance(item.get("buttons"), list) else []
    extra = {
        "image_url": str(item.get("imageUrl") or ""),
        "prompt_en": str(item.get("promptEn") or ""),
        "description": str(item.get("description") or "")[:2000],
        "buttons": [_button(b) for b in buttons if isinstance(b, dict)][:50],
    }
    properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    if properties.get("finalPrompt"):
        extra["final_prompt"] = str(properties["finalPrompt"])[:4000]
    fail_reason = str(item.get("failReason") or "")
    if status == states.FAILURE and not fail_reason:
        fail_reason = "upstream reported FAILURE" if raw_status != "CANCEL" else "cancelled upstream"
    return UpstreamState(
        upstream_id=str(item.get("id") or ""),
        status=status,
        progress=_progress(item.get("progress"), status),
        fail_reason=fail_reason,
        start_ms=_ms(item.get("startTime")),
        finish_ms=_ms(item.get("finishTime")),
        data=item,
        extra=extra,
    )


def _button(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "customId": str(raw.get("customId") or ""),
        "emoji": str(raw.get("emoji") or ""),
        "label": str(raw.get("label") or ""),
        "type": _ms(raw.get("type")),
        "style": _ms(raw.get("style")),
    }


class MidjourneyProvider:
    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel

    def _headers(self) -> dict[str, str]:
        return {"mj-api-secret": self.channel.secret} if self.channel.secret else {}

    def _redacted(self, value: dict[str, Any]) -> dict[str, Any]:
        """An upstream reply object as JSON data without the channel's secret, should the upstream echo it."""
        return json.loads(http.redact(json.dumps(value, ensure_ascii=False, default=str), self.channel.secret))

    def _post(self, path: str, body: Any, what: str) -> http.HttpReply:
        reply = http.channel_request(self.channel, "POST", path, headers=self._headers(), json_body=body)
        http.classify_status(reply, what, secret=self.channel.secret)
        return reply

    def _relayed_error(self, reply: http.HttpReply) -> dict[str, Any] | None:
        """A non-2xx submit reply as the relay may answer it (providers/relayable.py): its JSON object when
        safe to relay; our words in its place (its numeric code kept) when it is not; None when not JSON."""
        answer = relayable.json_object(reply.body)
        if answer is None or relayable.relayable_text(reply.body, self.channel) is not None:
            return answer
        code = answer.get("code")
        return {"code": code if isinstance(code, int) and not isinstance(code, bool) else 5,
                "description": f"the upstream answered HTTP {reply.status}", "result": None, "properties": {}}

    def submit(self, request: SubmitRequest) -> SubmitResult:
        kind = str(request.payload.get("kind") or "")
        if kind not in SUBMIT_KINDS:
            raise PermanentUpstreamError(f"unsupported Midjourney submission {kind!r}",
                                         public=f"unsupported Midjourney submission {kind[:20]!r}")
        body = dict(request.payload.get("body") or {})
        if kind == "video" and request.upstream_parent_id:
            body["taskId"] = request.upstream_parent_id
        if kind in PARENT_KINDS:
            if not request.upstream_parent_id:
                raise PermanentUpstreamError("the parent task has no upstream id",
                                             public="the parent task has no upstream id")
            body["taskId"] = request.upstream_parent_id
        reply = http.channel_request(self.channel, "POST", SUBMIT_PATHS.get(kind, f"/mj/submit/{kind}"),
                                     headers=self._headers(), json_body=body)
        try:
            http.classify_status(reply, f"midjourney submit {kind}", secret=self.channel.secret)
        except UpstreamError as error:
            error.body = self._relayed_error(reply)  # new-api relays a non-2xx JSON body with its status
            raise
        answer = reply.json()
        if not isinstance(answer, dict):
            raise TransientUpstreamError("midjourney submit: reply is not a JSON object")
        code = answer.get("code")
        description = http.redact(str(answer.get("description") or ""), self.channel.secret)
        if code == QUEUE_FULL:  # relayed to the client if no other channel takes it: no secret or address in it
            raise TransientUpstreamError(f"[23] queue full: {description}", status=reply.status,
                                         body=relayable.public_object(answer, self.channel))
        if isinstance(code, bool) or not isinstance(code, int):
            # a 200 without a numeric code is garbage, not a refusal: another channel may answer properly
            raise TransientUpstreamError(f"midjourney submit: reply code {code!r} is not a number",
                                         status=reply.status, body=answer)
        if code not in ACCEPTED_CODES:
            # users see the protocol's code in our words (mj_relay reads "[code]"), never the upstream's text
            raise PermanentUpstreamError(f"[{code}] {description[:300] or 'refused'}", status=reply.status,
                                         body=relayable.public_object(answer, self.channel),
                                         public=f"[{code}] {REFUSAL_WORDS.get(code, 'refused')}")
        upstream_id = answer.get("result")
        if not isinstance(upstream_id, (str, int)) or not str(upstream_id):
            raise TransientUpstreamError("midjourney submit: accepted without a task id", body=answer)
        properties = answer.get("properties") if isinstance(answer.get("properties"), dict) else {}
        status = states.MODAL if str(properties.get("status") or "").upper() == "MODAL" else states.SUBMITTED
        # The upstream's properties (finalPrompt, numberOfQueues, ...) are relayed in the submit reply, as new-api does.
        kept = self._redacted(properties)
        submitted = {"code": int(code), "description": description[:500],
                     "properties": kept if len(json.dumps(kept)) <= MAX_PROPERTIES_CHARS else {}}
        return SubmitResult(upstream_id=str(upstream_id), status=status, raw=answer, extra={"mj_submit": submitted})

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        out: dict[str, UpstreamState] = {}
        ids = list(dict.fromkeys(i for i in upstream_ids if i))
        size = settings.get().mj_list_batch_size
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            reply = self._post("/mj/task/list-by-condition", {"ids": chunk}, "midjourney list-by-condition")
            items = reply.json()
            if not isinstance(items, list):
                raise TransientUpstreamError("midjourney list-by-condition: reply is not a list")
            wanted = set(chunk)
            for item in items:
                if isinstance(item, dict) and str(item.get("id") or "") in wanted:
                    state = state_of(item)
                    out[state.upstream_id] = state
        return out

    def upload(self, base64_array: list[str]) -> dict[str, Any]:
        """`POST {base}/mj/submit/upload-discord-images`: the reply (URLs in `result` when code is 1)."""
        reply = self._post("/mj/submit/upload-discord-images", {"base64Array": base64_array},
                           "midjourney upload-discord-images")
        answer = reply.json()
        if not isinstance(answer, dict) or isinstance(answer.get("code"), bool) or not isinstance(
                answer.get("code"), int):
            raise TransientUpstreamError("midjourney upload: reply is not an object with a numeric code")
        return self._redacted(answer)

    def image_seed(self, upstream_id: str) -> dict[str, Any]:
        """`GET {base}/mj/task/{id}/image-seed`: the upstream's reply object (seed in `result`)."""
        reply = http.channel_request(self.channel, "GET", f"/mj/task/{quote(upstream_id, safe='')}/image-seed",
                                     headers=self._headers())
        http.classify_status(reply, "midjourney image-seed", secret=self.channel.secret)
        answer = reply.json()
        if not isinstance(answer, dict):
            raise TransientUpstreamError("midjourney image-seed: reply is not a JSON object")
        return self._redacted(answer)

    def cancel(self, upstream_id: str) -> bool:
        return False  # midjourney-proxy has no cancel; a stopped task is failed and refunded on our side
