"""The video adapters' upstream status mapping, written once (docs/video.md, "Platforms"): each platform
declares one table of its status words (providers/seedance.py, providers/sora.py), and `to_state` applies
the rules they share:

- a word the table lacks: the platform's `unknown` state, or no state at all (the reply is ignored and the
  engine's poll misses decide);
- progress: the upstream's own number when it sends one (clamped to 0..100), else the table's; 100% once
  terminal;
- a failure's reason: the upstream's message (its text about the user's own prompt), else "task <word>",
  cut to MAX_REASON characters;
- a success without a result (`has_result` False) is a failure: nothing could be served or kept.

`fetch_each` is the per-id poll both adapters run (neither API has a batch fetch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from taskcenter.domain import states
from taskcenter.providers import http
from taskcenter.providers.base import PermanentUpstreamError, TransientUpstreamError, UpstreamState

MAX_REASON = 300


@dataclass(frozen=True)
class Status:
    state: str
    progress: int | None = None  # shown while the upstream reports none


@dataclass(frozen=True)
class StatusTable:
    """One platform's status words (compared lower-case) and what a word outside them means."""

    words: Mapping[str, Status]
    unknown: str | None = None  # the state of a word the table lacks; None: no state (the reply is ignored)

    def lookup(self, word: Any) -> Status | None:
        found = self.words.get(str(word or "").lower())
        if found is None and self.unknown is not None:
            return Status(self.unknown)
        return found


def _percent(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return max(0, min(100, int(value)))
    except (TypeError, ValueError, OverflowError):
        return 0


def to_state(table: StatusTable, upstream_id: Any, word: Any, *, progress: Any = None, error_message: Any = None,
             has_result: bool = True, finish_ms: int = 0, data: dict[str, Any] | None = None) -> UpstreamState | None:
    """The UpstreamState of one upstream task object, or None (no id, or a word the table ignores)."""
    if not isinstance(upstream_id, str) or not upstream_id:
        return None
    found = table.lookup(word)
    if found is None:
        return None
    if found.state == states.SUCCESS and not has_result:
        return UpstreamState(upstream_id=upstream_id, status=states.FAILURE, progress="100%",
                             fail_reason="the upstream reported success without a video")
    percent = _percent(progress)
    if found.state in states.TERMINAL:
        percent = 100
    elif percent is None:
        percent = found.progress or 0
    reason = str(error_message or f"task {word}")[:MAX_REASON] if found.state == states.FAILURE else ""
    return UpstreamState(upstream_id=upstream_id, status=found.state, progress=f"{percent}%", fail_reason=reason,
                         finish_ms=finish_ms, data=dict(data or {}))


def fetch_each(upstream_ids: Iterable[str], get: Callable[[str], http.HttpReply],
               read: Callable[[http.HttpReply], dict[str, Any]],
               state_of: Callable[[dict[str, Any]], UpstreamState | None]) -> dict[str, UpstreamState]:
    """GET each distinct id once. A 404 leaves it out (the poller counts misses); a refused fetch says nothing
    about the task, so it is transient; a reply about another id is ignored."""
    out: dict[str, UpstreamState] = {}
    for upstream_id in dict.fromkeys(i for i in upstream_ids if i):
        reply = get(upstream_id)
        if reply.status == 404:
            continue
        try:
            body = read(reply)
        except PermanentUpstreamError as error:
            raise TransientUpstreamError(error.message, status=error.status) from error
        state = state_of(body)
        if state is not None and state.upstream_id == upstream_id:
            out[upstream_id] = state
    return out
