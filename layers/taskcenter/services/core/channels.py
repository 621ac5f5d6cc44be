"""Channel selection (docs/architecture.md#providers-and-channels): enabled channels of a type that serve the model, by
priority (highest first), then weighted-random among equal priority. Returns the failover order.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from taskcenter.domain import channel_status
from taskcenter.observability import logger, metrics
from taskcenter.providers.base import ChannelInfo, TransientUpstreamError
from taskcenter.store import channel_secrets
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Channel

_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, list[Channel]]] = {}


def _channels_of_type(channel_type: str) -> list[Channel]:
    """One Query on the by_type index, cached briefly per Lambda container (channels change rarely)."""
    hit = _cache.get(channel_type)
    now = time.monotonic()
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    rows = repositories().channels.of_type(channel_type)
    if rows:  # an empty answer is not cached: a channel added a moment ago must be usable at once
        _cache[channel_type] = (now, rows)
    return rows


def clear_cache() -> None:
    _cache.clear()


def secret_of(ch: Channel) -> str:
    """The channel's secret, read from Secrets Manager through its reference (store/channel_secrets.py).

    Raises TransientUpstreamError when it cannot be read, or when the row still holds a plaintext secret
    (not migrated: `migrate_channel_secrets`, docs/admin.md): the channel is unusable, never called without
    its credential; submission fails over, a poll message is retried.
    """
    if ch.secret_ref:
        try:
            return channel_secrets.read(ch.secret_ref)
        except channel_secrets.SecretUnavailable as error:
            logger.error("channel secret unavailable", extra={"channel_id": int(ch.id), "reason": str(error)})
            metrics.add_metric(name="ChannelSecretUnavailable", unit="Count", value=1)
            raise TransientUpstreamError(f"channel {int(ch.id)} is unavailable (its credential could not be read)") \
                from error
    if ch.legacy_secret:
        logger.error("channel secret not migrated: run the admin op migrate_channel_secrets",
                     extra={"channel_id": int(ch.id)})
        metrics.add_metric(name="ChannelSecretUnavailable", unit="Count", value=1)
        raise TransientUpstreamError(f"channel {int(ch.id)} is unavailable (its credential is not migrated)")
    return ""


def info(ch: Channel) -> ChannelInfo:
    """What a provider needs, the secret resolved (raises TransientUpstreamError: see secret_of)."""
    return ChannelInfo(id=int(ch.id), type=ch.type, base_url=ch.base_url, secret=secret_of(ch), name=ch.name)


def usable(ch: Channel) -> ChannelInfo | None:
    try:
        return info(ch)
    except TransientUpstreamError:
        return None  # logged by secret_of; selection goes on without it


def failover_order(channel_type: str, model: str = "", *, exclude: set[int] | None = None,
                   rng: random.Random | None = None) -> list[ChannelInfo]:
    """The enabled channels of a type serving `model`, in failover order; a channel whose secret cannot be
    read is left out (as if it were down)."""
    rng = rng or random.Random()
    candidates = [
        ch for ch in _channels_of_type(channel_type)
        if channel_status.takes_new_tasks(ch) and (not model or not ch.models or model in ch.models)
        and int(ch.id) not in (exclude or set())
    ]
    by_priority: dict[int, list[Channel]] = {}
    for ch in candidates:
        by_priority.setdefault(int(ch.priority), []).append(ch)
    ordered: list[ChannelInfo] = []
    for priority in sorted(by_priority, reverse=True):
        group = by_priority[priority]
        while group:
            weights = [max(int(ch.weight), 0) + 0.001 for ch in group]
            pick = rng.choices(range(len(group)), weights=weights, k=1)[0]
            usable_channel = usable(group.pop(pick))
            if usable_channel is not None:
                ordered.append(usable_channel)
    return ordered


def get_channel(channel_id: int) -> Channel | None:
    return repositories().channels.get(channel_id)
