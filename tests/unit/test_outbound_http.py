"""Outbound HTTP (providers/http.py): credentials never cross origins, no https -> http, a URL that cannot
be parsed is an upstream error (not a ValueError), a channel's 401/403 is counted and failed over.
No AWS: two stub upstreams on 127.0.0.1 with different ports are two origins, both allow-listed, so what
stops a request below is the origin rule, not the private-address guard (issue 12, items 4, 5, 7).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from taskcenter.observability import metrics
from taskcenter.providers import http
from taskcenter.providers.base import ChannelInfo, TransientUpstreamError, UpstreamError

from tests.stub_upstream import Answer, StubUpstream

SECRET = "chan-secret-4f1c9a"
PROMPT = {"prompt": "my private prompt"}


@pytest.fixture
def two(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StubUpstream, StubUpstream]]:
    with StubUpstream() as a, StubUpstream() as b:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{a.host_port},{b.host_port}")
        b.routes["/steal"] = Answer(200, body={"code": "success", "data": "evil-task-id"})
        yield a, b


def _credentials() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRET}", "mj-api-secret": SECRET, "X-Host-Key": SECRET}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_channel_call_never_follows_a_redirect_to_another_origin(
        two: tuple[StubUpstream, StubUpstream], status: int) -> None:
    a, b = two
    a.routes["/suno/submit/MUSIC"] = Answer(status, {"Location": f"{b.url}/steal"})
    with pytest.raises(http.RefusedDestination, match="another origin") as caught:
        http.request("POST", f"{a.url}/suno/submit/MUSIC", headers=_credentials(), json_body=PROMPT)
    assert isinstance(caught.value, TransientUpstreamError)  # the channel's fault: the next channel is tried
    assert b.seen == []  # neither the credential nor the prompt reached the other origin; its reply was never read
    assert [s.path for s in a.seen] == ["/suno/submit/MUSIC"]


def test_a_redirect_within_the_origin_is_followed_with_its_credential(two: tuple[StubUpstream, StubUpstream]) -> None:
    a, _ = two
    a.routes["/old"] = Answer(307, {"Location": "/new"})
    a.routes["/new"] = Answer(200, body={"ok": True})
    reply = http.request("POST", f"{a.url}/old", headers=_credentials(), json_body=PROMPT)
    assert reply.json() == {"ok": True} and reply.url == f"{a.url}/new"
    assert a.seen[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert a.seen[-1].body == b'{"prompt": "my private prompt"}'


def test_following_other_origins_strips_credentials_and_never_sends_a_body(
        two: tuple[StubUpstream, StubUpstream]) -> None:
    """Image fetching (same_origin_only=False): the other origin is reached, without any credential."""
    a, b = two
    a.routes["/img"] = Answer(302, {"Location": f"{b.url}/steal"})
    reply = http.request("GET", f"{a.url}/img", headers=_credentials(), same_origin_only=False,
                         credential_headers=("X-Host-Key",))
    assert reply.status == 200 and reply.url == f"{b.url}/steal"
    (seen,) = b.seen
    assert SECRET not in str(seen.headers) and {"authorization", "mj-api-secret", "x-host-key"}.isdisjoint(seen.headers)
    assert a.seen[0].headers["authorization"] == f"Bearer {SECRET}"  # the first origin did get it

    # A request with a body is not redirected to another origin at all (307/308 would resend the body).
    b.seen.clear()
    a.routes["/post"] = Answer(307, {"Location": f"{b.url}/steal"})
    with pytest.raises(http.RefusedDestination):
        http.request("POST", f"{a.url}/post", headers=_credentials(), json_body=PROMPT, same_origin_only=False)
    assert b.seen == []


def test_https_to_http_is_never_followed() -> None:
    """Unit level (no TLS server here): the redirect rule refuses a downgrade in both modes, even on one host."""
    current = http.parse_url("https://upstream.example.com/suno/submit/MUSIC")
    for same_origin_only in (True, False):
        with pytest.raises(http.RefusedDestination, match="https to http"):
            http.redirect_target("https://upstream.example.com/suno/submit/MUSIC", current.origin, current,
                                 "http://upstream.example.com/suno/submit/MUSIC", same_origin_only=same_origin_only)
    # an upgrade is another origin: refused for a channel call, allowed for a public image
    plain = http.parse_url("http://cdn.example.com/a.png")
    url, target = http.redirect_target("http://cdn.example.com/a.png", plain.origin, plain,
                                       "https://cdn.example.com/a.png", same_origin_only=False)
    assert target.scheme == "https" and url == "https://cdn.example.com/a.png"
    with pytest.raises(http.RefusedDestination, match="another origin"):
        http.redirect_target("http://cdn.example.com/a.png", plain.origin, plain, "https://cdn.example.com/a.png",
                             same_origin_only=True)


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/x", "http://[::1", "http://127.0.0.1:abc/x",
                                      "http://[::1]:99999/", "//[zz/x"])
def test_an_unparseable_location_is_an_upstream_error(two: tuple[StubUpstream, StubUpstream], location: str) -> None:
    a, _ = two
    a.routes["/go"] = Answer(302, {"Location": location})
    with pytest.raises(http.BadUpstreamUrl) as caught:
        http.request("GET", f"{a.url}/go", same_origin_only=False)
    assert isinstance(caught.value, TransientUpstreamError) and caught.value.public == \
        "the upstream gave a URL that cannot be parsed"


def test_a_redirect_without_a_location_is_the_channels_fault(two: tuple[StubUpstream, StubUpstream]) -> None:
    a, _ = two
    a.routes["/suno/submit/MUSIC"] = Answer(302, {"Location": ""})
    reply = http.request("POST", f"{a.url}/suno/submit/MUSIC", json_body=PROMPT)
    with pytest.raises(TransientUpstreamError):
        http.classify_status(reply, "suno submit")


@pytest.mark.parametrize("url", ["http://x:99999/a.png", "http://[::1/a.png", "http://x:abc/a.png", "http://x:0/"])
def test_an_unparseable_url_is_an_upstream_error(url: str) -> None:
    with pytest.raises(http.BadUpstreamUrl):
        http.request("GET", url)


@pytest.mark.parametrize("status", [401, 403])
def test_a_channel_credential_refused_is_counted_and_failed_over(
        two: tuple[StubUpstream, StubUpstream], status: int) -> None:
    a, _ = two
    a.routes["/suno/submit/MUSIC"] = Answer(status, body={"message": f"invalid key {SECRET} for suno-prod"})
    channel = ChannelInfo(id=7, type="suno", base_url=a.url, secret=SECRET, name="suno-prod")
    metrics.clear_metrics()
    with pytest.raises(http.ChannelAuthFailed) as caught:
        http.channel_request(channel, "POST", "/suno/submit/MUSIC", headers={"Authorization": f"Bearer {SECRET}"},
                             json_body=PROMPT)
    assert isinstance(caught.value, TransientUpstreamError) and caught.value.status == status
    assert metrics.metric_set["ChannelAuthFailed"]["Value"] == [1.0]
    assert SECRET not in caught.value.message  # the log text, even when the upstream echoes the key
    for words in (SECRET, "suno-prod", a.url, "invalid key", "7"):
        assert words not in caught.value.public
    metrics.clear_metrics()


@pytest.mark.parametrize("body", [b'{"code": NaN}', b'{"id": 1e309}', b'{"n": ' + b"9" * 400 + b"}",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_an_upstream_reply_that_strict_json_refuses_is_garbage_not_data(body: bytes) -> None:
    # Upstream replies go through the same strict parser as request bodies: what we could not store or
    # forward is the channel's fault (fail over), never a 500 and never a value written to a task.
    reply = http.HttpReply(200, {}, body, "https://upstream.example/x")
    with pytest.raises(TransientUpstreamError):
        reply.json()


def test_a_content_length_in_other_digits_is_not_read_as_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # "\xb2" is "²" in the header's latin-1: str.isdigit() says yes and int() raises (was a ValueError, a 500).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"127.0.0.1:{port}")

    def answer_once() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\n"
                         b"Connection: close\r\n\r\n{}")

    server = threading.Thread(target=answer_once, daemon=True)
    server.start()
    try:
        reply = http.request("GET", f"http://127.0.0.1:{port}/x", read_timeout=5)
        assert reply.status == 200
    except UpstreamError:
        pass  # refusing the reply as garbage is as good: what matters is no ValueError escapes
    finally:
        server.join(5)
        listener.close()


def test_a_channel_call_to_a_host_that_trickles_its_reply_is_cut_at_connect_plus_read_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each byte within the read timeout, the whole reply never: a stop or a poll was held for as long as the
    host liked, past the function's own timeout (found by hostile testing, 4 Dec 2026)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    done = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        while not done.wait(0.1):
            try:
                conn.sendall(b" ")
            except OSError:
                break
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"127.0.0.1:{port}")
    monkeypatch.setenv("UPSTREAM_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "0.5")
    channel = ChannelInfo(id=1, type="tikmatrix", base_url=f"http://127.0.0.1:{port}", secret="k")
    try:  # without the bound the 100 bytes arrive in 10 s and the call answers 200
        with pytest.raises(http.UpstreamTimeout):
            http.channel_request(channel, "GET", "/api/v1/task", headers={})
    finally:
        done.set()
        server.close()
