"""Channel selection (DESIGN.md section 7): enabled channels of a type that serve the model, by
priority (highest first), then weighted-random among equal priority. Returns the failover order.
"""

from __future__ import annotations

import random
import time

from taskcenter.providers.base import ChannelInfo
from taskcenter.store.models import Channel

_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, list[Channel]]] = {}


def _channels_of_type(channel_type: str) -> list[Channel]:
    """One Query on the by_type index, cached briefly per Lambda container (channels change rarely)."""
    hit = _cache.get(channel_type)
    now = time.monotonic()
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    rows = list(Channel.by_type.query(channel_type))
    if rows:  # an empty answer is not cached: a channel added a moment ago must be usable at once
        _cache[channel_type] = (now, rows)
    return rows


def clear_cache() -> None:
    _cache.clear()


def info(ch: Channel) -> ChannelInfo:
    return ChannelInfo(id=int(ch.id), type=ch.type, base_url=ch.base_url, secret=ch.secret or "", name=ch.name)


def failover_order(channel_type: str, model: str = "", *, exclude: set[int] | None = None,
                   rng: random.Random | None = None) -> list[ChannelInfo]:
    rng = rng or random.Random()
    candidates = [
        ch for ch in _channels_of_type(channel_type)
        if int(ch.status) == 1 and (not model or not ch.models or model in ch.models)
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
            ordered.append(info(group.pop(pick)))
    return ordered


def get_channel(channel_id: int) -> Channel | None:
    try:
        return Channel.get(channel_id, consistent_read=True)
    except Channel.DoesNotExist:
        return None
