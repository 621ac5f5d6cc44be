"""Webhook rules with no I/O: event types, endpoint filters, the retry schedule, what a response means
(docs/webhooks.md). Follows the Standard Webhooks specification (spec 1.0.0, "Retry schedule" and
"Delivery outcome"): 2xx delivered, 410 disables the endpoint, anything else (3xx included) is retried.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from taskcenter.domain.errors import BadInput

# One event per winning transition (docs/webhooks.md, "Events"); `type` is full-stop delimited (spec A.4).
SUBMITTED, PROGRESS, SUCCEEDED, FAILED, REFUNDED = (
    "task.submitted", "task.progress", "task.succeeded", "task.failed", "task.refunded")
EVENT_TYPES: tuple[str, ...] = (SUBMITTED, PROGRESS, SUCCEEDED, FAILED, REFUNDED)
# The status a task moved to -> its event (other moves, e.g. QUEUED or MODAL, emit nothing).
STATUS_EVENTS = {"SUBMITTED": SUBMITTED, "IN_PROGRESS": PROGRESS, "SUCCESS": SUCCEEDED, "FAILURE": FAILED}

DELIVERED, RETRY, DISABLE = "delivered", "retry", "disable"
MAX_URL_LENGTH = 2000
SECRET_BYTES = 32  # the spec: at least 24 random bytes; whsec_ + base64


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(10)


def event_id(task_id: str, seq: int) -> str:
    """An event's id: one per (task, sequence number), so the fan-out and the order check agree on it."""
    return f"evt_{task_id}_{seq}"


def message_id(event_id: str, endpoint_id: str) -> str:
    """The `webhook-id`: fixed per (event, endpoint), so a re-run of the fan-out and every retry carry the
    same id (the consumer's idempotency key); never contains a full stop (spec A.1)."""
    digest = hashlib.sha256(f"{event_id}|{endpoint_id}".encode()).hexdigest()[:26]
    return f"msg_{digest}"


def parse_events(value: object) -> list[str]:
    """An endpoint's event filter: a list of event types; empty means all."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput("events must be a list of event types", field="events")
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise BadInput(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}", field="events")
    return sorted(set(value))


def wants(filter_types: Iterable[str], event_type: str) -> bool:
    wanted = list(filter_types or [])
    return not wanted or event_type in wanted


def check_url(value: object, *, name: str = "url", require_https: bool = False) -> str:
    """Shape only (the address is vetted at every delivery by providers/http.py, which refuses private
    addresses)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL_LENGTH:
        raise BadInput(f"{name} must be an http(s) URL of at most {MAX_URL_LENGTH} characters", field=name)
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        raise BadInput(f"{name} is not a valid URL", field=name) from error
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise BadInput(f"{name} must be an {'/'.join(schemes)} URL without credentials", field=name)
    # urlsplit drops tabs and line breaks and takes any host text: a URL no delivery could ever use (a space
    # in the host, CR LF, NUL, `xn--`) would be kept and retried for two days, so it is refused here
    if any(c.isspace() or not c.isprintable() for c in url):
        raise BadInput(f"{name} must not contain spaces or control characters (percent-encode them)", field=name)
    if not _is_host(parts.hostname):
        raise BadInput(f"{name} has no valid host name", field=name)
    if parts.port == 0:
        raise BadInput(f"{name} has port 0, which no delivery can use", field=name)
    return url


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")


def _is_host(host: str) -> bool:
    """An IP literal, or a DNS name (IDNA: `bücher.de` and its `xn--` form) of valid labels."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower().rstrip(".")
        labels = ascii_host.split(".")
        for label in labels:
            if label.startswith("xn--"):
                label.encode("ascii").decode("idna")  # a punycode label must decode
    except UnicodeError:
        return False
    return len(ascii_host) <= 253 and all(_LABEL.match(label) for label in labels)


def parse_schedule(text: str) -> tuple[int, ...]:
    """`WEBHOOK_RETRY_SCHEDULE`: seconds before each retry, comma-separated (docs/configuration.md)."""
    delays = tuple(max(0, int(part)) for part in text.split(",") if part.strip())
    return delays or (5,)


@dataclass(frozen=True)
class Outcome:
    verdict: str  # delivered | retry | disable
    reason: str


def classify(status: int | None, error: str = "") -> Outcome:
    """What one attempt's response means (spec A.5). `status` None: no response (timeout, refused, reset)."""
    if status is None:
        return Outcome(RETRY, error or "no response")
    if 200 <= status <= 299:
        return Outcome(DELIVERED, f"HTTP {status}")
    if status == 410:
        return Outcome(DISABLE, "the endpoint answered 410 Gone")
    return Outcome(RETRY, f"HTTP {status}")


def retry_delay(attempt: int, schedule: tuple[int, ...], *, retry_after: int | None = None,
                rng: random.Random | None = None) -> int | None:
    """Seconds to wait after failed attempt `attempt` (1-based), with up to 20 % jitter so that retries of
    many messages spread out; None when the schedule is used up. A larger Retry-After is honoured."""
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    jitter = (rng or random).uniform(0, 0.2) * base
    delay = int(base + jitter)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, 24 * 3600)
    return delay


def parse_retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None
