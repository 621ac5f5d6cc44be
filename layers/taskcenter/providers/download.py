"""Streamed download of a result file from an upstream's public URL (the result keeper, docs/results.md).

The same rules as every outbound call (providers/http.py): each hop's address vetted (private, loopback,
link-local, metadata refused; PRIVATE_HOST_ALLOWLIST for the local stack's simulators), redirects followed
by hand and vetted again, https -> http refused. Unlike `http.request`, the body is never held: `download`
yields it in chunks, counting them against `max_bytes` (the declared Content-Length is checked first) and
cutting the exchange off at `total_timeout` (the watchdog).

Credentials: a public result URL gets none. A result only its channel may read (Sora's content route, Veo's
file download) goes through `channel_download`: the channel's credential headers are sent only when the URL
is on the channel's own origin (its base URL's scheme, host and port), and are dropped the moment a
redirect leaves that origin (a CDN, Google's storage host); they never come back on a later hop
(docs/results.md, "Results only the channel may read").
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import urllib3

from taskcenter.domain import numbers
from taskcenter.providers import http
from taskcenter.providers.base import ChannelInfo, TransientUpstreamError
from taskcenter.providers.watchdog import Watchdog

CHUNK_BYTES = 256 * 1024


class TooLarge(TransientUpstreamError):
    """The file is larger than the copy's cap."""


@dataclass
class Download:
    status: int
    content_type: str
    declared_bytes: int | None
    chunks: Iterator[bytes]
    url: str


@contextmanager
def download(url: str, *, max_bytes: int, total_timeout: float, max_redirects: int = 3,
             credentials: Mapping[str, str] | None = None) -> Iterator[Download]:
    """GET `url` for streaming. HTTP error statuses are returned (`status`; no body is read); every other
    failure raises an UpstreamError subclass (RefusedDestination/UnsafeAddress, UpstreamTimeout, TooLarge).
    `credentials` (headers) go to `url`'s origin only: a redirect elsewhere drops them (channel_download)."""
    deadline = time.monotonic() + total_timeout
    secret = dict(credentials or {})
    timeout, retry = http._timeout_and_retry(None, min(30.0, total_timeout), None, tuple(secret))
    headers = {"User-Agent": "task-center/1.0", "Accept": "*/*", **secret}
    current, target = url, http.parse_url(url)
    origin = target.origin
    for _ in range(max_redirects + 1):
        resp = http._send("GET", target, current, None, {**headers, "Host": target.netloc}, timeout, retry,
                          deadline, total_timeout)
        watchdog = Watchdog(resp, deadline - time.monotonic())
        try:
            location = resp.headers.get("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                current, target, _, _ = http._follow_redirect(resp.status, location, current, origin, target, "GET",
                                                              None, headers, retry, same_origin_only=False)
                continue
            declared = resp.headers.get("Content-Length")
            size = int(declared) if declared and numbers.is_ascii_int(declared) else None
            if resp.status == 200 and size is not None and size > max_bytes:
                raise TooLarge(f"result file too large ({size} bytes > {max_bytes})",
                               public=f"the file is too large (> {max_bytes} bytes)")
            content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            yield Download(resp.status, content_type, size, _chunks(resp, max_bytes, watchdog, total_timeout),
                           current)
            return
        finally:
            watchdog.cancel()
            resp.close()  # a body not read to its end must not go back to the pool
            resp.release_conn()
    raise TransientUpstreamError(f"too many redirects (> {max_redirects})", public="too many redirects")


def channel_download(channel: ChannelInfo, url: str, credentials: Mapping[str, str], *, max_bytes: int,
                     total_timeout: float) -> AbstractContextManager[Download]:
    """`download` of a result that needs `channel`'s credential: sent only if `url` is on the channel's own
    origin (a URL the upstream named elsewhere is fetched without it), dropped on a redirect elsewhere."""
    own = http.parse_url(url).origin == http.parse_url(channel.base_url).origin
    return download(url, max_bytes=max_bytes, total_timeout=total_timeout, credentials=credentials if own else None)


def _chunks(resp: urllib3.BaseHTTPResponse, max_bytes: int, watchdog: Watchdog,
            total_timeout: float) -> Iterator[bytes]:
    size = 0
    try:
        for chunk in resp.stream(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"result file too large (> {max_bytes} bytes)",
                               public=f"the file is too large (> {max_bytes} bytes)")
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError) as error:
        if watchdog.fired:
            raise http._timed_out(total_timeout) from error
        raise TransientUpstreamError(f"download broke off: {type(error).__name__}",
                                     public="the upstream's reply broke off") from error
    if watchdog.fired:  # cut off mid-body: what we have is truncated
        raise http._timed_out(total_timeout)
