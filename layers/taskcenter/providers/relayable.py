"""What of an upstream's non-2xx reply a relay may pass on to its client (docs/compatibility.md, "Upstream
error replies"): new-api relays such a body verbatim (newapi-relay-wire.md 2.3, 3.3); we do too, unless it
could carry the channel's credential or where the channel lives.

A body is relayable when it is small (RELAY_MAX_BYTES), valid UTF-8, and names none of: the channel's
secret, the channel's host, a URL (`scheme://`), an IP address (v4, or v6 with four or more groups or `::`),
or a host name under a private-use suffix (RFC 6762 .local, RFC 8375 .home.arpa, .internal, ...). A false
positive only costs the client our own words instead of the upstream's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from taskcenter.domain import json_body as strict_json
from taskcenter.domain.errors import BadInput
from taskcenter.providers.base import ChannelInfo

RELAY_MAX_BYTES = 4096  # an error body is a line or two; an HTML error page or a stack trace is not relayed
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")
_IPV6 = re.compile(r"(?<![0-9a-f:])(?:[0-9a-f]{0,4}:){4,7}[0-9a-f]{0,4}|[0-9a-f]{0,4}::[0-9a-f]{0,4}",
                   re.IGNORECASE)
_PRIVATE_NAME = re.compile(r"\blocalhost\b|[a-z0-9-]\.(?:local|localdomain|internal|intranet|lan|corp|home\.arpa"
                           r"|svc|cluster\.local|consul)\b", re.IGNORECASE)


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
