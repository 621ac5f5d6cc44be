"""Outbound HTTP for upstream calls and image forwarding: urllib3 with timeouts, bounded retries,
size caps, and refusal of private, loopback, link-local, multicast and cloud-metadata addresses
(the deny list: providers/addresses.py).

Resolution happens here, once per hop: the connection goes to the vetted IP (Host header and TLS SNI
keep the name), so DNS that answers differently on the second lookup (rebinding) cannot sneak
through. Redirects are followed by hand, each hop vetted again; where a redirect may go is the
caller's choice (`same_origin_only`, see `request`), and https -> http is never followed.

Every failure is an `UpstreamError` whose `message` is for the logs and whose `public` text is safe to
show a user; everything raised here is transient (the channel's fault: fail over), including a URL that
cannot be parsed (docs/decisions.md, "Outbound HTTP and upstream errors").

`PRIVATE_HOST_ALLOWLIST` (comma-separated `host:port`) lets the local stack and tests reach their
simulated upstreams on 127.0.0.1; nothing else private is ever allowed.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.util import Retry, Timeout

from taskcenter import settings
from taskcenter.domain import json_body as strict_json
from taskcenter.domain import numbers
from taskcenter.domain.errors import BadInput
from taskcenter.providers.addresses import METADATA_HOSTS, refuse_reason
from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError, TransientUpstreamError, UpstreamError
from taskcenter.providers.watchdog import Watchdog


class BadUpstreamUrl(TransientUpstreamError):
    """A URL that cannot be parsed or requested (an upstream's Location or imageUrl, a base URL)."""


class RefusedDestination(TransientUpstreamError):
    """A destination our rules refuse: not http(s), credentials in the URL, another origin, https -> http."""


class UnsafeAddress(RefusedDestination):
    """The URL resolves to an address we refuse to contact."""


class UpstreamTimeout(TransientUpstreamError):
    """The exchange took longer than its total time limit."""


def _timed_out(seconds: float) -> UpstreamTimeout:
    words = f"the upstream took longer than {seconds:g}s"
    return UpstreamTimeout(words, public=words)


class ChannelAuthFailed(TransientUpstreamError):
    """The channel's upstream refused its credential (HTTP 401/403): the channel is broken, not the task."""


# Always removed from a request that leaves its origin (urllib3's own list, plus midjourney-proxy's key).
CREDENTIAL_HEADERS = Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT | {"mj-api-secret"}


def allowlisted(host: str, port: int) -> bool:
    return f"{host.lower()}:{port}" in settings.get().private_host_allowlist


@dataclass(frozen=True)
class Target:
    """One parsed http(s) URL: what a hop connects to and asks for."""

    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    netloc: str  # the Host header
    path: str  # path and query

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def parse_url(url: str) -> Target:
    """Parse an http(s) URL; BadUpstreamUrl when it cannot be parsed (port 99999, `[::1`, `:abc`),
    RefusedDestination when it is not http(s) or carries credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
        host = parts.hostname
    except ValueError as error:
        raise BadUpstreamUrl(f"cannot parse URL {url[:200]!r}: {error}",
                             public="the upstream gave a URL that cannot be parsed") from error
    if parts.scheme not in {"http", "https"} or not host:
        raise RefusedDestination(f"not an http(s) URL: {url[:200]}", public="not an http(s) URL")
    if "@" in parts.netloc:
        raise RefusedDestination("URLs with credentials are refused", public="URLs with credentials are refused")
    if port == 0:
        raise BadUpstreamUrl(f"port 0 in URL {url[:200]!r}", public="the upstream gave a URL that cannot be parsed")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    netloc = parts.netloc
    if not host.isascii():  # an internationalised name: resolved and sent (Host) in its IDNA form, xn--...
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise BadUpstreamUrl(f"cannot encode host {host[:100]!r}", public="the URL's host name is not valid") \
                from error
        netloc = ascii_host + (f":{port}" if port else "")
        host = ascii_host
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), netloc, path)


def redirect_target(current_url: str, origin: tuple[str, str, int], current: Target, location: str, *,
                    same_origin_only: bool) -> tuple[str, Target]:
    """Where a redirect from `current` to `location` goes, or why it must not be followed."""
    try:
        url = urljoin(current_url, location)
    except ValueError as error:
        raise BadUpstreamUrl(f"cannot parse redirect Location {location[:200]!r}: {error}",
                             public="the upstream gave a URL that cannot be parsed") from error
    target = parse_url(url)
    if current.scheme == "https" and target.scheme == "http":
        raise RefusedDestination(f"redirect from https to http refused ({url[:200]})",
                                 public="a redirect from https to http was refused")
    if same_origin_only and target.origin != origin:
        raise RefusedDestination(f"redirect to another origin refused ({url[:200]})",
                                 public="a redirect to another origin was refused")
    return url, target


def resolve_public(host: str, port: int) -> str:
    """Resolve `host` and return an address we may contact, or raise UnsafeAddress saying why."""
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise UnsafeAddress(f"refusing to contact {host}: cloud metadata host",
                            public="the destination is a cloud metadata host")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        infos = [str(literal)]
    else:
        try:
            infos = list(dict.fromkeys(ai[4][0] for ai in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except socket.gaierror as error:
            raise TransientUpstreamError(f"cannot resolve {host}: {error}",
                                         public="the upstream's host name does not resolve") from error
        except (UnicodeError, ValueError) as error:  # a label over 63 characters, a NUL: not a host name
            raise BadUpstreamUrl(f"cannot resolve {host[:200]!r}: {error}",
                                 public="the upstream gave a URL that cannot be parsed") from error
    if not infos:
        raise TransientUpstreamError(f"cannot resolve {host}", public="the upstream's host name does not resolve")
    if allowlisted(host, port):
        return infos[0]
    for addr in infos:  # every answer must be public: an attacker controls the order
        reason = refuse_reason(ipaddress.ip_address(addr))
        if reason:
            raise UnsafeAddress(f"refusing to contact {host}: it resolves to a {reason} ({addr})",
                                public=f"the destination resolves to a {reason}")
    return infos[0]


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        # The same strict parser as request bodies: an upstream's NaN, 1e309, 400-digit integer or
        # 100,000-deep nesting is garbage (fail over), never a value we store or forward.
        try:
            return strict_json.loads(self.body, storable_floats=False)
        except BadInput as error:
            raise TransientUpstreamError(f"upstream answered non-JSON (HTTP {self.status})", status=self.status,
                                         public="the upstream's reply is not JSON") from error


_pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}


def _pool(scheme: str, ip: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
    key = (scheme, ip, port, host)
    pool = _pools.get(key)
    if pool is None:
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(ip, port, server_hostname=host, assert_hostname=host, maxsize=4)
        else:
            pool = urllib3.HTTPConnectionPool(ip, port, maxsize=4)
        _pools[key] = pool
    return pool


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    same_origin_only: bool = True,
    credential_headers: Iterable[str] = (),
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_bytes: int = 5 * 1024 * 1024,
    max_redirects: int = 3,
    retries: int | None = None,
    stream_to: Any = None,
    total_timeout: float | None = None,
) -> HttpReply:
    """One HTTP exchange with an upstream. Raises TransientUpstreamError (or a subclass: BadUpstreamUrl,
    RefusedDestination, UnsafeAddress, UpstreamTimeout) on any failure; never follows a redirect to a
    refused address. HTTP error statuses are returned, not raised: adapters decide. `total_timeout` bounds
    the whole exchange (every hop, headers, body): a server trickling bytes is cut off (UpstreamTimeout).

    Redirects (docs/decisions.md, "Outbound HTTP and upstream errors"): with `same_origin_only` (the
    default: every call to a channel) a redirect may only stay on the URL's origin (scheme, host,
    port); one elsewhere is an upstream error, so the channel's credential and the user's request never
    leave it and only the channel's own origin is trusted to answer. Without it (public image URLs),
    other origins are followed, each hop vetted, and once the request has left its origin it loses its
    credential headers (urllib3's `Retry.remove_headers_on_redirect`: Authorization, Cookie,
    Proxy-Authorization; plus mj-api-secret and `credential_headers`); a request body never goes to
    another origin. https -> http is refused in both modes. `json_body` bytes go as given (docs/webhooks.md)."""
    deadline = time.monotonic() + total_timeout if total_timeout else None
    timeout, retry = _timeout_and_retry(connect_timeout, read_timeout, retries, credential_headers)
    send_headers, body = _first_hop(headers, json_body)
    current, target = url, parse_url(url)
    origin = target.origin
    for _ in range(max_redirects + 1):
        resp = _send(method, target, current, body, {**send_headers, "Host": target.netloc},
                     timeout, retry, deadline, total_timeout)
        watchdog = Watchdog(resp, deadline - time.monotonic()) if deadline is not None else None
        complete = False  # a body not read to its end (redirect, too large, error) must not be reused
        try:
            if resp.status in (301, 302, 303, 307, 308) and (location := resp.headers.get("Location")):
                current, target, method, body = _follow_redirect(resp.status, location, current, origin, target,
                                                                 method, body, send_headers, retry,
                                                                 same_origin_only=same_origin_only)
                continue
            content = _read_body(resp, max_bytes, watchdog, total_timeout)
            complete = True
            return HttpReply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, content, current)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if watchdog is not None and watchdog.fired:
                raise _timed_out(total_timeout or 0) from error
            raise TransientUpstreamError(f"upstream read failed: {type(error).__name__}",
                                         public="the upstream's reply broke off") from error
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if not complete:  # else the pooled connection's next request fails with ResponseNotReady
                resp.close()
            resp.release_conn()
    raise TransientUpstreamError(f"too many redirects (> {max_redirects})", public="too many redirects")


def _first_hop(headers: dict[str, str] | None, json_body: Any) -> tuple[dict[str, str], bytes | None]:
    send_headers = {"User-Agent": "task-center/1.0", "Accept": "application/json, */*", **(headers or {})}
    if isinstance(json_body, bytes):  # already serialised: a signed body must not be re-serialised
        return {"Content-Type": "application/json", **send_headers}, json_body
    if json_body is None:
        return send_headers, None
    if isinstance(json_body, bytes):  # an encoded body (multipart): the caller's headers give its Content-Type
        return send_headers, json_body
    send_headers["Content-Type"] = "application/json"
    return send_headers, json.dumps(json_body).encode()


def _timeout_and_retry(connect_timeout: float | None, read_timeout: float | None, retries: int | None,
                       credential_headers: Iterable[str]) -> tuple[Timeout, Retry]:
    timeout = Timeout(
        connect=connect_timeout if connect_timeout is not None else settings.get().upstream_connect_timeout,
        read=read_timeout if read_timeout is not None else settings.get().upstream_read_timeout,
    )
    # Connection failures are retried with backoff by urllib3; a request the upstream may have
    # received (read errors, statuses) is never resent here: the caller's failover decides.
    retry = Retry(total=retries if retries is not None else settings.get().upstream_connect_retries,
                  connect=None, read=0, status=0, redirect=0, other=0, backoff_factor=0.2,
                  raise_on_status=False, raise_on_redirect=False,
                  remove_headers_on_redirect=CREDENTIAL_HEADERS | set(credential_headers))
    return timeout, retry


def _hop_timeout(timeout: Timeout, deadline: float | None, total_timeout: float | None) -> Timeout:
    """The hop's timeouts, cut to what is left of `total_timeout`."""
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timed_out(total_timeout or 0)
    return Timeout(connect=min(timeout.connect_timeout or remaining, remaining),
                   read=min(timeout.read_timeout or remaining, remaining))


def _send(method: str, target: Target, current: str, body: bytes | None, hop_headers: dict[str, str],
          timeout: Timeout, retry: Retry, deadline: float | None, total_timeout: float | None) -> Any:
    """One hop, to the vetted public address of `target` (resolve_public); the reply is not read yet."""
    ip = resolve_public(target.host, target.port)
    hop_timeout = _hop_timeout(timeout, deadline, total_timeout)
    try:
        return _pool(target.scheme, ip, target.port, target.host).urlopen(
            method, target.path, body=body, headers=hop_headers, timeout=hop_timeout, retries=retry,
            redirect=False, preload_content=False, assert_same_host=False,
        )
    except urllib3.exceptions.HTTPError as error:
        if deadline is not None and time.monotonic() >= deadline:
            raise _timed_out(total_timeout or 0) from error
        raise TransientUpstreamError(f"upstream unreachable: {type(error).__name__}: {error}",
                                     public="the upstream is unreachable") from error
    except ValueError as error:  # http.client refuses a path or Host with control characters
        raise BadUpstreamUrl(f"cannot request {current[:200]!r}: {error}",
                             public="the upstream gave a URL that cannot be parsed") from error


def _follow_redirect(status: int, location: str, current: str, origin: tuple[str, str, int], previous: Target,
                     method: str,
                     body: bytes | None, send_headers: dict[str, str], retry: Retry, *,
                     same_origin_only: bool) -> tuple[str, Target, str, bytes | None]:
    """The next hop of a redirect: (url, target, method, body); drops the credential headers (in
    `send_headers`) once the request leaves its origin, and refuses to carry a body there."""
    current, target = redirect_target(current, origin, previous, location, same_origin_only=same_origin_only)
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        send_headers.pop("Content-Type", None)
    if target.origin != previous.origin:  # only without same_origin_only
        if body is not None:
            raise RefusedDestination(f"redirect of a request with a body to another origin refused ({current[:200]})",
                                     public="a redirect to another origin was refused")
        for name in [n for n in send_headers if n.lower() in retry.remove_headers_on_redirect]:
            del send_headers[name]
    return current, target, method, body


def _read_body(resp: Any, max_bytes: int, watchdog: Any, total_timeout: float | None) -> bytes:
    """The whole body, at most `max_bytes` (declared or streamed); cut off by the watchdog: a timeout."""
    declared = resp.headers.get("Content-Length")
    if declared and numbers.is_ascii_int(declared) and int(declared) > max_bytes:
        raise TransientUpstreamError(f"upstream body too large ({declared} bytes > {max_bytes})",
                                     status=resp.status, public=f"the reply is too large (> {max_bytes} bytes)")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.stream(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise TransientUpstreamError(f"upstream body too large (> {max_bytes} bytes)", status=resp.status,
                                         public=f"the reply is too large (> {max_bytes} bytes)")
        chunks.append(chunk)
    if watchdog is not None and watchdog.fired:  # cut off mid-body: what we have is truncated
        raise _timed_out(total_timeout or 0)
    return b"".join(chunks)


def redact(text: str, secret: str) -> str:
    """`text` (an upstream's reply, for a log line) without the channel's secret, should it echo it."""
    return text.replace(secret, "[secret]") if secret else text


def classify_status(reply: HttpReply, what: str, *, secret: str = "") -> None:
    """Raise the right error for a non-2xx reply: 429/5xx, 401/403 (the channel's credential) and a
    redirect without a Location transient, other 4xx permanent. The reply's body goes to `message`
    (logs) only, never `public`."""
    if 200 <= reply.status < 300:
        return
    detail = redact(reply.body[:300].decode("utf-8", "replace"), secret)
    message = f"{what}: upstream HTTP {reply.status}: {detail}"
    if reply.status in (401, 403):
        raise ChannelAuthFailed(message, status=reply.status, public="the upstream refused the channel's credential")
    if reply.status == 429 or reply.status >= 500 or 300 <= reply.status < 400:  # 3xx here: no usable Location
        raise TransientUpstreamError(message, status=reply.status)
    raise PermanentUpstreamError(message, status=reply.status)


def channel_request(channel: ChannelInfo, method: str, path: str, *, headers: dict[str, str],
                    json_body: Any = None) -> HttpReply:
    """A call to `channel`'s upstream at `base_url + path`: `headers` carry its credential; redirects stay on its
    origin; a host trickling its reply is cut at connect + read timeout. A 401/403 is counted (ChannelAuthFailed,
    alarmed; docs/deploy.md "Operating"), logged, and raised as ChannelAuthFailed (the next channel is tried)."""
    try:
        reply = request(method, channel.base_url.rstrip("/") + path, headers=headers, json_body=json_body,
                        same_origin_only=True, credential_headers=tuple(headers),  # whole call bounded too:
                        total_timeout=settings.get().upstream_connect_timeout + settings.get().upstream_read_timeout)
    except UpstreamError as error:  # a refused redirect's URL (logged) may echo the key: `?api_key=...`
        error.message = redact(error.message, channel.secret)
        raise
    if reply.status in (401, 403):
        from taskcenter.observability import logger, metrics

        metrics.add_metric(name="ChannelAuthFailed", unit="Count", value=1)
        logger.error("channel credential refused by its upstream", extra={
            "channel_id": channel.id, "channel_type": channel.type, "status": reply.status, "path": path,
            "reply": redact(reply.body[:300].decode("utf-8", "replace"), channel.secret)})
        classify_status(reply, f"channel {channel.id} {method} {path}", secret=channel.secret)
    return reply
