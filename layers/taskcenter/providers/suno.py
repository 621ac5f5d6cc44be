"""Suno API adapter (the upstream new-api relays to; behaviour-notes.md "Relay endpoints").

- submit: `POST {base}/suno/submit/{ACTION}` with the client's body and `Authorization: Bearer <key>`;
  the reply `{"code": "success", "message": "", "data": "<upstream task id>"}`.
- fetch: `POST {base}/suno/fetch` with `{"ids": [...], "action": ""}`; the reply's `data` is a list of
  `{task_id, status, fail_reason, submit_time, start_time, finish_time, progress?, data}` (times in
  seconds). Ids the upstream does not return are absent from the result.

Errors: 429/5xx, 401/403, timeouts, connection errors, unusable URLs and unparseable replies are
transient (fail over);
on submit, other 4xx and a 2xx whose envelope code is not "success" are the upstream refusing the task.
Every fetch failure is transient (it says nothing about the tasks; the poller retries).
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import states
from taskcenter.providers import http, relayable
from taskcenter.providers.base import (
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamError,
    UpstreamState,
)
from taskcenter.providers.channel_adapter import ChannelAdapter

# Upstream status words -> ours. The Suno API server speaks our vocabulary; clip-level words
# (complete, streaming, error) appear from some servers and are mapped too.
_STATUS = {
    "NOT_START": states.NOT_START,
    "SUBMITTED": states.SUBMITTED,
    "QUEUED": states.QUEUED,
    "IN_PROGRESS": states.IN_PROGRESS,
    "SUCCESS": states.SUCCESS,
    "FAILURE": states.FAILURE,
    "UNKNOWN": states.UNKNOWN,
    "PENDING": states.QUEUED,
    "STREAMING": states.IN_PROGRESS,
    "RUNNING": states.IN_PROGRESS,
    "PROCESSING": states.IN_PROGRESS,
    "COMPLETE": states.SUCCESS,
    "COMPLETED": states.SUCCESS,
    "SUCCEEDED": states.SUCCESS,
    "ERROR": states.FAILURE,
    "FAILED": states.FAILURE,
}

FETCH_BATCH = 100  # ids per upstream fetch request
MAX_MESSAGE = 1000  # of the upstream's submit message kept for the reply (a sentence; never a page)


def map_status(raw: Any, fail_reason: str = "") -> str:
    """Our status for an upstream item; a fail_reason means failure whatever the status says (as new-api)."""
    status = _STATUS.get(str(raw or "").strip().upper(), states.UNKNOWN)
    if fail_reason and status != states.SUCCESS:
        return states.FAILURE
    return status


def _seconds_to_ms(value: Any) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):  # 1e999 parses as infinity
        return 0
    if number <= 0 or number >= 10**14:  # nonsense (1e300 would be a 301-digit number DynamoDB refuses)
        return 0
    return number * 1000 if number < 10**11 else number  # tolerate upstreams that answer in ms


def item_to_state(item: dict[str, Any]) -> UpstreamState | None:
    upstream_id = str(item.get("task_id") or item.get("id") or "")
    if not upstream_id:
        return None
    fail_reason = str(item.get("fail_reason") or "")
    status = map_status(item.get("status"), fail_reason)
    progress = str(item.get("progress") or "")
    if status in states.TERMINAL:
        progress = "100%"
    return UpstreamState(
        upstream_id=upstream_id,
        status=status,
        progress=progress,
        fail_reason=fail_reason if status == states.FAILURE else "",
        start_ms=_seconds_to_ms(item.get("start_time")),
        finish_ms=_seconds_to_ms(item.get("finish_time")),
        data=item.get("data"),
    )


class SunoProvider(ChannelAdapter):
    non_object_public = "the upstream's reply is not an object"

    def _post(self, path: str, body: Any) -> http.HttpReply:
        return self._call("POST", path, body)

    def submit(self, request: SubmitRequest) -> SubmitResult:
        action = request.action.upper()
        reply = self._post(f"/suno/submit/{action}", request.payload)
        try:
            body = self._object(reply, "suno submit")
        except UpstreamError as error:
            if not 200 <= reply.status < 300:  # new-api's message is the body: relayed only if safe (relayable.py)
                error.body = relayable.relayable_text(reply.body, self.channel)
            raise
        if not isinstance(body.get("code"), str) or not body["code"]:
            # 200 with no envelope code is garbage, not a refusal: another channel may answer properly
            raise TransientUpstreamError("suno submit: reply has no envelope code", status=reply.status, body=body)
        if body.get("code") != "success":
            message = http.redact(str(body.get("message") or body.get("code") or "refused")[:300], self.channel.secret)
            # body: the refusal's code, which the relay answers with as new-api does (services/suno/relay.py)
            raise PermanentUpstreamError(f"suno submit refused: {message}", status=reply.status,
                                         body={"code": str(body["code"])[:64]}, public="refused by the Suno API")
        upstream_id = body.get("data")
        if not isinstance(upstream_id, str) or not upstream_id:
            raise TransientUpstreamError("suno submit: reply carries no task id", status=reply.status, body=body)
        # The upstream's message is the relay's reply message (as new-api's); kept on the task for it
        message = http.redact(str(body.get("message") or "")[:MAX_MESSAGE], self.channel.secret)
        return SubmitResult(upstream_id=upstream_id, status=states.SUBMITTED, raw=body,
                            extra={"submit_message": message} if message else {})

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        out: dict[str, UpstreamState] = {}
        ids = [i for i in dict.fromkeys(upstream_ids) if i]
        for start in range(0, len(ids), FETCH_BATCH):
            batch = ids[start:start + FETCH_BATCH]
            try:
                reply = self._post("/suno/fetch", {"ids": batch, "action": ""})
                body = self._object(reply, "suno fetch")
            except PermanentUpstreamError as error:
                # A failed batch fetch says nothing about the tasks (a bad key, a proxy error page):
                # the poller retries it later; it must never fail the tasks.
                raise TransientUpstreamError(error.message, status=error.status) from error
            if body.get("code") != "success":
                detail = http.redact(str(body.get("message") or body.get("code"))[:300], self.channel.secret)
                raise TransientUpstreamError(f"suno fetch: {detail}", status=reply.status, body=body)
            items = body.get("data") or []
            if not isinstance(items, list):
                raise TransientUpstreamError("suno fetch: data is not a list", status=reply.status)
            wanted = set(batch)
            for item in items:
                if isinstance(item, dict):
                    state = item_to_state(item)
                    if state is not None and state.upstream_id in wanted:
                        out[state.upstream_id] = state
        return out

    def cancel(self, upstream_id: str) -> bool:
        return False  # the Suno API has no cancel route
