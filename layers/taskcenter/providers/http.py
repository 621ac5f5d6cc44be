"""Outbound HTTP for upstream calls and image forwarding: urllib3 with timeouts, bounded retries,
size caps, and refusal of private, loopback, link-local, multicast and cloud-metadata addresses.

Resolution happens here, once per hop: the connection goes to the vetted IP (Host header and TLS SNI
keep the name), so DNS that answers differently on the second lookup (rebinding) cannot sneak
through. Redirects are followed by hand, each hop vetted again.

`PRIVATE_HOST_ALLOWLIST` (comma-separated `host:port`) lets the local stack and tests reach their
simulated upstreams on 127.0.0.1; nothing else private is ever allowed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.util import Retry, Timeout

from taskcenter import config
from taskcenter.providers.base import PermanentUpstreamError, TransientUpstreamError, UpstreamError


class UnsafeAddress(UpstreamError):
    """The URL resolves to an address we refuse to contact."""


_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}


def allowlisted(host: str, port: int) -> bool:
    raw = config.env("PRIVATE_HOST_ALLOWLIST", "")
    entries = {e.strip().lower() for e in raw.split(",") if e.strip()}
    return f"{host.lower()}:{port}" in entries


def refuse_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address (cloud metadata)"
    if ip.is_private:
        return "private address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "non-public address"
    return None


def resolve_public(host: str, port: int) -> str:
    """Resolve `host` and return an address we may contact, or raise UnsafeAddress saying why."""
    if host.lower().rstrip(".") in _METADATA_HOSTS:
        raise UnsafeAddress(f"refusing to contact {host}: cloud metadata host")
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
            raise TransientUpstreamError(f"cannot resolve {host}: {error}") from error
    if not infos:
        raise TransientUpstreamError(f"cannot resolve {host}")
    if allowlisted(host, port):
        return infos[0]
    for addr in infos:  # every answer must be public: an attacker controls the order
        reason = refuse_reason(ipaddress.ip_address(addr.split("%")[0]))
        if reason:
            raise UnsafeAddress(f"refusing to contact {host}: it resolves to a {reason} ({addr})")
    return infos[0]


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise TransientUpstreamError(f"upstream answered non-JSON (HTTP {self.status})",
                                         status=self.status) from error


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
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_bytes: int = 5 * 1024 * 1024,
    max_redirects: int = 3,
    retries: int | None = None,
    stream_to: Any = None,
    total_timeout: float | None = None,
) -> HttpReply:
    """One HTTP exchange with an upstream. Raises TransientUpstreamError on network trouble,
    UnsafeAddress for refused destinations, PermanentUpstreamError for bad URLs. Never follows a
    redirect to a refused address. HTTP error statuses are returned, not raised: adapters decide.
    `total_timeout` bounds the whole exchange (every hop, headers and body): a server that trickles
    bytes slower than it would take the read timeout to notice is cut off (TransientUpstreamError).
    """
    deadline = time.monotonic() + total_timeout if total_timeout else None
    timeout = Timeout(
        connect=connect_timeout if connect_timeout is not None else config.env_float("UPSTREAM_CONNECT_TIMEOUT", 3.0),
        read=read_timeout if read_timeout is not None else config.env_float("UPSTREAM_READ_TIMEOUT", 15.0),
    )
    # Connection failures are retried with backoff by urllib3; a request the upstream may have
    # received (read errors, statuses) is never resent here: the caller's failover decides.
    retry = Retry(total=retries if retries is not None else config.env_int("UPSTREAM_CONNECT_RETRIES", 1),
                  connect=None, read=0, status=0, redirect=0, other=0, backoff_factor=0.2,
                  raise_on_status=False, raise_on_redirect=False)
    body = None
    send_headers = {"User-Agent": "task-center/1.0", "Accept": "application/json, */*"}
    send_headers.update(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        send_headers["Content-Type"] = "application/json"
    current = url
    for _ in range(max_redirects + 1):
        parts = urlsplit(current)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise PermanentUpstreamError(f"not an http(s) URL: {current[:200]}")
        if parts.username or parts.password:
            raise PermanentUpstreamError("URLs with credentials are refused")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ip = resolve_public(parts.hostname, port)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        hop_headers = dict(send_headers)
        hop_headers["Host"] = parts.netloc.split("@")[-1]
        hop_timeout = timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientUpstreamError(f"upstream took longer than {total_timeout:g}s")
            hop_timeout = Timeout(connect=min(timeout.connect_timeout or remaining, remaining),
                                  read=min(timeout.read_timeout or remaining, remaining))
        try:
            resp = _pool(parts.scheme, ip, port, parts.hostname).urlopen(
                method, path, body=body, headers=hop_headers, timeout=hop_timeout, retries=retry,
                redirect=False, preload_content=False, assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as error:
            if deadline is not None and time.monotonic() >= deadline:
                raise TransientUpstreamError(f"upstream took longer than {total_timeout:g}s") from error
            raise TransientUpstreamError(f"upstream unreachable: {type(error).__name__}: {error}") from error
        watchdog = _Watchdog(resp, deadline - time.monotonic()) if deadline is not None else None
        complete = False  # a body not read to its end (redirect, too large, error) must not be reused
        try:
            if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                current = urljoin(current, resp.headers["Location"])
                if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                    send_headers.pop("Content-Type", None)
                continue
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise UpstreamError(f"upstream body too large ({declared} bytes > {max_bytes})", status=resp.status)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.stream(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise UpstreamError(f"upstream body too large (> {max_bytes} bytes)", status=resp.status)
                chunks.append(chunk)
            if watchdog is not None and watchdog.fired:  # cut off mid-body: what we have is truncated
                raise TransientUpstreamError(f"upstream took longer than {total_timeout:g}s")
            complete = True
            return HttpReply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, b"".join(chunks), current)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if watchdog is not None and watchdog.fired:
                raise TransientUpstreamError(f"upstream took longer than {total_timeout:g}s") from error
            raise TransientUpstreamError(f"upstream read failed: {type(error).__name__}") from error
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if not complete:  # else the pooled connection's next request fails with ResponseNotReady
                resp.close()
            resp.release_conn()
    raise PermanentUpstreamError(f"too many redirects (> {max_redirects})")


class _Watchdog:
    """Shuts the response's socket down when the exchange's time is up (a blocked read then returns)."""

    def __init__(self, resp: Any, seconds: float) -> None:
        self.fired = False
        self._resp = resp
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        conn = getattr(self._resp, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def classify_status(reply: HttpReply, what: str) -> None:
    """Raise the right error for a non-2xx reply: 429/5xx transient, other 4xx permanent."""
    if 200 <= reply.status < 300:
        return
    detail = reply.body[:300].decode("utf-8", "replace")
    if reply.status == 429 or reply.status >= 500:
        raise TransientUpstreamError(f"{what}: upstream HTTP {reply.status}: {detail}", status=reply.status)
    raise PermanentUpstreamError(f"{what}: upstream HTTP {reply.status}: {detail}", status=reply.status)
