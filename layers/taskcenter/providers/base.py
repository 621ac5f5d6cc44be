"""The provider contract. Adapters translate between our task model and one upstream protocol.

Errors: an adapter raises `TransientUpstreamError` for 429, 5xx, 401/403 (the channel's credential),
timeouts, connection failures, unusable URLs (unparseable, another origin, a refused address) and garbage
responses (the caller fails over to another channel / retries later), and `PermanentUpstreamError` for
other 4xx-class refusals of the task itself (never retried elsewhere; the task fails and is refunded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class UpstreamError(Exception):
    """`message` is for the logs (it may name the host and quote the upstream's reply, never the channel's
    secret); `public` is what a user may be shown: our own words, never an upstream body or a channel's URL,
    name or id (docs/decisions.md, "Outbound HTTP and upstream errors")."""

    def __init__(self, message: str, *, status: int = 0, body: Any = None, public: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.public = public or (f"the upstream answered HTTP {status}" if status else "the upstream failed")


class TransientUpstreamError(UpstreamError):
    """429 / 5xx / 401 / 403 / timeout / connection error / unusable URL / unparseable reply: the channel's
    fault; try another channel or later."""


class PermanentUpstreamError(UpstreamError):
    """The upstream refused the request itself (400-class): do not fail over."""


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    type: str
    base_url: str
    secret: str
    name: str = ""


@dataclass(frozen=True)
class SubmitRequest:
    task_id: str  # our public id
    action: str
    payload: dict[str, Any]  # surface-specific request body (already validated)
    upstream_parent_id: str = ""  # MJ actions: the source task's upstream id
    user_id: int = 0  # the task's owner (a v1 script_config secret decrypts only for its owner)


@dataclass(frozen=True)
class SubmitResult:
    upstream_id: str
    status: str = "SUBMITTED"
    raw: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpstreamState:
    """One task as the upstream reports it, mapped to our vocabulary."""

    upstream_id: str
    status: str  # one of taskcenter.domain.states
    progress: str = ""
    fail_reason: str = ""
    start_ms: int = 0
    finish_ms: int = 0
    data: Any = None  # raw result to store in task.data
    extra: dict[str, Any] = field(default_factory=dict)  # surface fields (image_url, buttons, ...)


class Provider(Protocol):
    """What the engine needs from a channel type."""

    channel: ChannelInfo

    def submit(self, request: SubmitRequest) -> SubmitResult: ...

    def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
        """Batch state. Ids the upstream does not know are absent from the result."""
        ...

    def cancel(self, upstream_id: str) -> bool:
        """Ask the upstream to stop; False where it cannot."""
        ...
