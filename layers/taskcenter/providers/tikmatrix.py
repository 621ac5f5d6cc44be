"""TikMatrix host adapter: a desktop host that runs scripts on its phones, speaking the TikMatrix task API
(`/api/v1/task`, the same protocol our Task API v1 serves; reference: tikmatrix-task-api.md).

- submit: `POST /api/v1/task` with one device (`serials: [serial]`) or one account (`usernames: [name]`),
  the script and its config in the documented vocabulary (tikmatrix-scripts.md §3: what
  domain/v1_script_configs.py returns; follow/comment with a one-entry `target_users` / `target_post_urls`),
  `enable_multi_account`, and `min_interval` / `max_interval` when the client gave them; the host answers
  `data.task_ids[0]`, our upstream id.
- fetch: `GET /api/v1/task?task_ids=1,2,3&page_size=100` (a filter our simulator honours; a host that
  ignores it (the documented list API has no such filter) returns its latest tasks, and ids not among them
  are read one by one with `GET /api/v1/task/{id}`: only an id the host says it does not know is a poll miss;
  a poll message holds at most POLL_BATCH_SIZE ids).
- cancel: `POST /api/v1/task/{id}/stop`.

Host statuses 0 pending and 1 running (and any status the host may add) map to IN_PROGRESS (the host
has the task: for a v1 user it is "running"), 2 to SUCCESS, 3 to FAILURE. Envelope `{"code": 0, ...}`;
a non-zero code of the 40xxx family is a refusal (permanent), anything else (50001, HTTP 429/5xx,
garbage) is transient.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from taskcenter import script_secrets
from taskcenter.domain import numbers, states
from taskcenter.providers import http
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    SubmitResult,
    TransientUpstreamError,
    UpstreamState,
)

HOST_STATUS = {0: states.IN_PROGRESS, 1: states.IN_PROGRESS, 2: states.SUCCESS, 3: states.FAILURE}


class TikMatrixProvider:
    def __init__(self, channel: ChannelInfo) -> None:
        self.channel = channel

    def _headers(self) -> dict[str, str]:
        secret = self.channel.secret  # resolved from Secrets Manager by services.channels.info
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def _call(self, method: str, path: str, body: Any = None, what: str = "tikmatrix") -> Any:
        reply = http.channel_request(self.channel, method, path, headers=self._headers(), json_body=body)
        if reply.status == 404 and method == "GET":
            return None
        http.classify_status(reply, what, secret=self.channel.secret)
        payload = reply.json()
        if not isinstance(payload, dict) or "code" not in payload:
            raise TransientUpstreamError(f"{what}: host answered without an envelope", status=reply.status)
        code = payload.get("code")
        if code == 40401 and method == "GET":
            return None
        if code != 0:
            detail = http.redact(str(payload.get("message") or "")[:300], self.channel.secret)
            message = f"{what}: host code {code}: {detail}"
            if isinstance(code, int) and 40000 <= code < 50000:
                raise PermanentUpstreamError(message, status=reply.status, body=payload,
                                             public=f"the host refused it (code {code})")
            raise TransientUpstreamError(message, status=reply.status, body=payload)
        return payload.get("data")

    def submit(self, request: SubmitRequest) -> SubmitResult:
        payload = request.payload
        body: dict[str, Any] = {
            "script_name": payload.get("script_name") or request.action,
            "script_config": _open_secrets(payload.get("script_config") or {}, request.user_id),
            "enable_multi_account": bool(payload.get("enable_multi_account")),
        }
        for name in ("min_interval", "max_interval"):  # top-level, as the desktop UI sends them (minutes)
            if payload.get(name) is not None:
                body[name] = payload[name]
        if payload.get("serial"):
            body["serials"] = [payload["serial"]]
        else:
            body["usernames"] = [payload.get("account")]
        data = self._call("POST", "/api/v1/task", body, "submit")
        ids = (data or {}).get("task_ids") if isinstance(data, dict) else None
        host_id = _host_id(ids[0]) if isinstance(ids, list) and ids else None
        if host_id is None:  # garbage ([null], [true], a 300 KB string): transient, as any garbage
            raise TransientUpstreamError("submit: host answered without a usable task id")
        return SubmitResult(upstream_id=host_id, status=states.IN_PROGRESS, raw={"task_ids": [host_id]},
                            extra={"host_task_id": int(host_id)})

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        wanted = list(dict.fromkeys(str(u) for u in upstream_ids))
        if not wanted:
            return {}
        query = "task_ids=" + quote(",".join(wanted)) + f"&page_size={min(100, max(len(wanted), 1))}"
        data = self._call("GET", f"/api/v1/task?{query}", what="fetch")
        found: dict[str, UpstreamState] = {}
        for item in _items(data):
            state = _state(item)
            if state is not None and state.upstream_id in wanted:
                found[state.upstream_id] = state
        for upstream_id in [u for u in wanted if u not in found]:  # a host that ignores the filter: each alone
            single = self._call("GET", f"/api/v1/task/{quote(upstream_id)}", what="fetch one")
            state = _state(single) if isinstance(single, dict) else None
            if state is not None:
                found[upstream_id] = state
        return found

    def cancel(self, upstream_id: str) -> bool:
        try:
            self._call("POST", f"/api/v1/task/{quote(str(upstream_id))}/stop", {}, "stop")
        except PermanentUpstreamError:
            return False  # the host says it cannot stop it (finished, unknown): we stop on our side anyway
        return True


def _open_secrets(script_config: dict[str, Any], user_id: int) -> dict[str, Any]:
    """The config as the host needs it: secrets sealed at create (script_secrets) decrypted, here only.
    A secret that can never be read fails the task (refunded); KMS unreachable is retried like the host."""
    try:
        return script_secrets.open_config(script_config, user_id)
    except script_secrets.SecretNotReadable as error:
        if error.permanent:
            # Our own words (no upstream body): safe for the user to read.
            raise PermanentUpstreamError(f"submit: {error.message}", public=error.message) from error
        raise TransientUpstreamError(f"submit: {error.message}", public=error.message) from error


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [i for i in data if isinstance(i, dict)]
    if isinstance(data, dict):
        for key in ("tasks", "items", "list"):
            if isinstance(data.get(key), list):
                return [i for i in data[key] if isinstance(i, dict)]
    return []


def _host_id(value: Any) -> str | None:
    """A host's task id: a positive integer, or its ASCII digits (at most 18); anything else is garbage."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text if numbers.is_ascii_int(text) and int(text) > 0 else None


def _state(item: dict[str, Any]) -> UpstreamState | None:
    upstream_id = item.get("id", item.get("task_id"))
    status = item.get("status")
    if isinstance(status, str) and status.strip() in ("0", "1", "2", "3"):  # "compared loosely" (scripts ref.)
        status = int(status)
    if upstream_id is None or not isinstance(status, int) or isinstance(status, bool):
        return None
    mapped = HOST_STATUS.get(status, states.IN_PROGRESS)  # an unknown host status is not an end: still running
    reason = str(item.get("error") or item.get("remark") or item.get("fail_reason") or "")
    progress = "100%" if mapped in states.TERMINAL else ""
    return UpstreamState(upstream_id=str(upstream_id), status=mapped, progress=progress,
                         fail_reason=reason if mapped == states.FAILURE else "",
                         data=item.get("result") if item.get("result") is not None else None,
                         extra={"host_status": status})
