"""What of an upstream's non-2xx reply a relay may pass on to its client (docs/compatibility.md, "Upstream
error replies"): new-api relays such a body verbatim (newapi-relay-wire.md 2.3, 3.3); we do too, unless it
could carry the channel's credential or where the channel lives.

A body is relayable when it is small (RELAY_MAX_BYTES), valid UTF-8, and names none of: the channel's
secret, the channel's host, a URL (`scheme://`), an IP address (v4, or v6 with four or more groups or `::`),
or a host name under a private-use suffix (RFC 6762 .local, RFC 8375 .home.arpa, .internal, ...). A false
positive only costs the client our own words instead of the upstream's.

A polled task's texts (its failure reason, progress) are kept and shown to the task's owner, so they are
cleaned the same way, part by part instead of all or nothing (`public_state`): a failure reason is the one
thing a user has to go on.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlsplit

from taskcenter.domain import json_body as strict_json
from taskcenter.domain.errors import BadInput
from taskcenter.providers.base import ChannelInfo, UpstreamState

RELAY_MAX_BYTES = 4096  # an error body is a line or two; an HTML error page or a stack trace is not relayed
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")
_IPV6 = re.compile(r"(?<![0-9a-f:])(?:[0-9a-f]{0,4}:){4,7}[0-9a-f]{0,4}|[0-9a-f]{0,4}::[0-9a-f]{0,4}",
                   re.IGNORECASE)
_PRIVATE_NAME = re.compile(r"\blocalhost\b|[a-z0-9-]\.(?:local|localdomain|internal|intranet|lan|corp|home\.arpa"
                           r"|svc|cluster\.local|consul)\b", re.IGNORECASE)
_URL_TOKEN = re.compile(r"[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)  # the URL with what follows it to a space
_NAMED_HOST = re.compile(r"[a-z0-9.-]*(?:" + _PRIVATE_NAME.pattern + ")", re.IGNORECASE)


def _safe(text: str, channel: ChannelInfo) -> bool:
    host = (urlsplit(channel.base_url).hostname or "").lower()
    lowered = text.lower()
    if (channel.secret and channel.secret in text) or (host and host in lowered):
        return False
    return not any(p.search(text) for p in (_URL, _IPV4, _IPV6, _PRIVATE_NAME))


def relayable_text(body: bytes, channel: ChannelInfo) -> str | None:
    """The reply body as text a client may be shown, or None (see the module doc)."""
    if len(body) > RELAY_MAX_BYTES:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _safe(text, channel) else None


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object (the strict parser: no NaN, no huge numbers), or None."""
    try:
        value = strict_json.loads(body)
    except BadInput:
        return None
    return value if isinstance(value, dict) else None


def public_text(text: str, channel: ChannelInfo) -> str:
    """`text` with the channel's secret and host, URLs, IP addresses and private host names each replaced by a
    placeholder (the module doc)."""
    if channel.secret:
        text = text.replace(channel.secret, "[secret]")
    host = urlsplit(channel.base_url).hostname or ""
    if host:
        text = re.sub(re.escape(host), "[upstream]", text, flags=re.IGNORECASE)
    text = _URL_TOKEN.sub("[url]", text)
    text = _NAMED_HOST.sub("[host]", text)
    return _IPV6.sub("[address]", _IPV4.sub("[address]", text))


def _each_leaf(value: Any, change: Any) -> Any:
    """`value` (parsed JSON: nesting bounded by the strict parser) with `change` applied to every value in it
    that is not a list or an object."""
    if isinstance(value, list):
        return [_each_leaf(v, change) for v in value]
    if isinstance(value, dict):
        return {k: _each_leaf(v, change) for k, v in value.items()}
    return change(value)


def public_object(value: Any, channel: ChannelInfo) -> Any:
    """An upstream's refusal object with every text in it cleaned (`public_text`): what a 2xx refusal relays."""
    return _each_leaf(value, lambda leaf: public_text(leaf, channel) if isinstance(leaf, str) else leaf)


def public_state(state: UpstreamState, channel: ChannelInfo) -> UpstreamState:
    """A polled state as it may be stored and shown: its texts cleaned (`public_text`); its result (`data`,
    `extra`: the files' URLs a user asked for) only without the channel's secret, should the upstream echo it,
    and without numbers DynamoDB cannot store (1e200: the reply's parser lets them through; null instead)."""

    def kept(leaf: Any) -> Any:
        if isinstance(leaf, float) and not strict_json.storable_number(leaf):
            return None
        if isinstance(leaf, str) and channel.secret:
            return leaf.replace(channel.secret, "[secret]")
        return leaf

    return dataclasses.replace(state, fail_reason=public_text(state.fail_reason, channel),
                               progress=public_text(state.progress, channel),
                               data=_each_leaf(state.data, kept), extra=_each_leaf(state.extra, kept))
