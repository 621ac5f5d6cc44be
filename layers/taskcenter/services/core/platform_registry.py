"""What core asks of a platform at run time, and where it finds it (docs/architecture.md, "Platforms").

Core code (submission, lifecycle, polling's adapters) needs each platform's behaviour -- its provider
adapter, its admission rule, its terminal hook, the queue message kinds it handles -- but may not import
the platform packages (they sit above core). The platform table (`taskcenter.services.platforms`) lists
every platform as one `Platform` row; the composition root (`functions/_composition.py`, and
tests/conftest.py for tests that call the layer directly) hands it to `install` once, as a loader, so a
route that never needs a platform never imports one (cold start).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError, Provider, UpstreamState
from taskcenter.providers.relayable import public_state
from taskcenter.services.core import platform_loader

if TYPE_CHECKING:
    from taskcenter.store.models import Task


@dataclass(frozen=True)
class Platform:
    """One platform: a channel type with its adapter, and the rules only it has."""

    name: str  # the task's `platform` and its channels' `type`
    provider: Callable[[ChannelInfo], Provider]  # the adapter class (providers/<name>.py)
    models: tuple[str, ...] = ()  # the pricing model names its tasks are charged as (domain/pricing.py)
    # Before submission: 0 to go ahead, else milliseconds to wait (e.g. Task API v1 device slots).
    admission: Callable[[Task], int] | None = None
    # After the move to SUCCESS or FAILURE, run by the winner of the move only (core/lifecycle.py).
    on_terminal: Callable[[Task], None] | None = None
    # Before the move to SUCCESS (core/lifecycle.move): given the task and the result `data` the move writes,
    # the charge to settle the attempt at in that same write (video: what the upstream produced); None: none.
    settled_charge: Callable[[Task, Any], int | None] | None = None
    # Messages with a "kind" sharing the retry queue, handled by the platform (body -> anything).
    message_kinds: Mapping[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    # Where a succeeded task's result files are: {variant: upstream URL} (docs/results.md). A platform with
    # this hook has its results copied into the results bucket by the result keeper once a task succeeds.
    result_urls: Callable[[Task], Mapping[str, str]] | None = None
    # The task's `data` as listings show it, given the reply's base URL: kept files' links point at our result
    # routes (they outlive the upstream's URLs). None: `data` as stored.
    shown_data: Callable[[Task, str], Any] | None = None
    # The `platform` value new-api's dashboards show for it ("" = its name; video: the channel type number).
    listing_platform: str = ""
    # Webhooks (core/task_events.py): extra fields of an event's `data`, and the body the task's own hook
    # (e.g. midjourney-proxy's notifyHook) receives; None: no per-task hook on this platform.
    event_data: Callable[[Task], dict[str, Any]] | None = None
    hook_payload: Callable[[Task], dict[str, Any]] | None = None


def install(loader: Callable[[], Mapping[str, Platform]]) -> None:
    """Give core the platform table (the composition root calls platform_loader.install, the same thing)."""
    platform_loader.install(loader)


def table() -> Mapping[str, Platform]:
    if platform_loader.loader is None:
        raise RuntimeError("no platform table installed (functions/_composition.py installs it)")
    return platform_loader.loader()


def platform(name: str) -> Platform | None:
    return table().get(name)


def from_listing_name(value: str) -> str:
    """The platform a dashboard `platform=` filter means (new-api's value or our name)."""
    for row in table().values():
        if row.listing_platform and row.listing_platform == value:
            return row.name
    return value


def provider_for(channel: ChannelInfo) -> Provider:
    """The adapter for a channel, from its platform's row."""
    row = platform(channel.type)
    if row is None:
        raise PermanentUpstreamError(f"no provider for channel type {channel.type!r}",
                                     public="no adapter serves this kind of task")
    return row.provider(channel)


def fetch_states(channel: ChannelInfo, upstream_ids: list[str]) -> dict[str, UpstreamState]:
    """The upstream's states of these tasks (one batch fetch), as they may be stored and shown: no channel
    secret, upstream address or URL in their texts (providers/relayable.py, `public_state`)."""
    reply = provider_for(channel).fetch(upstream_ids)
    return {upstream_id: public_state(state, channel) for upstream_id, state in reply.items()}


def result_urls(task: Task) -> Mapping[str, str]:
    """The task's result files to keep, from its platform's row ({} when it has none)."""
    row = platform(task.platform)
    if row is None or row.result_urls is None:
        return {}
    return {variant: url for variant, url in row.result_urls(task).items() if url}


def settled_charge(task: Task, data: Any) -> int | None:
    """The charge the move to SUCCESS writing `data` settles the task at, from its platform's row (None: none)."""
    row = platform(task.platform)
    if row is None or row.settled_charge is None:
        return None
    return row.settled_charge(task, data)


def shown_data(task: Task, base_url: str) -> Any:
    row = platform(task.platform)
    if row is None or row.shown_data is None or not base_url:
        return task.data
    return row.shown_data(task, base_url)


def message_handler(kind: str) -> Callable[[dict[str, Any]], Any] | None:
    for row in table().values():
        if kind in row.message_kinds:
            return row.message_kinds[kind]
    return None
