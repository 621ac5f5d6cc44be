"""Image forwarding safety (SSRF): refused destinations, directly, after a redirect, and through DNS;
size, time and content-type caps. No AWS: the simulator serves images and redirects on 127.0.0.1 (the
one allow-listed host:port), and DNS is patched at the seam providers/http.py uses (socket.getaddrinfo).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from taskcenter.providers import http
from taskcenter.services.midjourney import image_proxy
from taskcenter.services.midjourney.image_proxy import ImageRefused

from infra.simulators.midjourney import PNG, MidjourneySimulator

# destination -> words the refusal must contain
REFUSED = {
    "http://127.0.0.1:9/a.png": "loopback",
    "http://10.1.2.3/a.png": "private",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://[::1]:8080/a.png": "loopback",
    "http://[::ffff:127.0.0.1]/a.png": "loopback",
    "http://192.168.0.10/a.png": "private",
    "http://0.0.0.0/a.png": "address",
    "http://2130706433/a.png": "loopback",  # 127.0.0.1 as one decimal number (inet_aton forms)
    "http://0x7f000001/a.png": "loopback",
    "http://017700000001/a.png": "loopback",
}
# hostname -> the address our fake DNS answers
EVIL_DNS = {
    "loop.evil.test": "127.0.0.1",
    "ten.evil.test": "10.0.0.7",
    "meta.evil.test": "169.254.169.254",
    "six.evil.test": "::1",
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[MidjourneySimulator]:
    with MidjourneySimulator() as simulator:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{simulator.host}:{simulator.port}")
        yield simulator


@pytest.fixture
def evil_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in EVIL_DNS:
            addr = EVIL_DNS[host]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]
        if host == "mixed.evil.test":  # one public answer and one private: still refused
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(http.socket, "getaddrinfo", fake)
    return EVIL_DNS


def refusal(url: str) -> ImageRefused:
    with pytest.raises(ImageRefused) as caught:
        image_proxy.fetch_image(url)
    return caught.value


def test_forwards_an_image_from_the_allowed_upstream(sim: MidjourneySimulator) -> None:
    image = image_proxy.fetch_image(f"{sim.url}/images/abc.png")
    assert image.body == PNG and image.content_type == "image/png"


def test_refuses_private_loopback_link_local_and_metadata_addresses(sim: MidjourneySimulator) -> None:
    for url, words in REFUSED.items():
        error = refusal(url)
        assert error.http_status == 403 and "refused" in error.message and words in error.message, (url, error)
    error = refusal("http://metadata.google.internal/computeMetadata/v1/")
    assert "metadata" in error.message
    assert "not an http(s) URL" in refusal("file:///etc/passwd").message
    assert "credentials" in refusal("http://user:pw@example.com/a.png").message
    assert refusal("").http_status == 404


def test_refuses_a_redirect_to_each_refused_address(sim: MidjourneySimulator) -> None:
    for url, words in REFUSED.items():
        sim.requests.clear()
        error = refusal(f"{sim.url}/redirect?to={quote(url, safe='')}")
        assert error.http_status == 403 and words in error.message, (url, error)
        assert list(sim.requests) == [("GET", "/redirect")]  # the first hop was made, the second never


def test_refuses_hostnames_that_resolve_to_refused_addresses(sim: MidjourneySimulator,
                                                             evil_dns: dict[str, str]) -> None:
    for host, addr in evil_dns.items():
        error = refusal(f"http://{host}/a.png")
        # the reply (a public route) says why in our words; the host and its address stay in the log
        assert error.http_status == 403 and "resolves to a" in error.message, error
        assert host not in error.message and addr not in error.message, error
        # and the same name reached through a redirect from the allowed upstream
        error = refusal(f"{sim.url}/redirect?to={quote(f'http://{host}:8080/a.png', safe='')}")
        assert error.http_status == 403 and "resolves to a" in error.message and addr not in error.message, error
    assert "private address" in refusal("http://mixed.evil.test/a.png").message


def test_caps_size_and_content_type(sim: MidjourneySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MJ_IMAGE_MAX_BYTES", str(1024 * 1024))
    error = refusal(f"{sim.url}/big.png")
    assert error.http_status == 502 and "too large" in error.message
    error = refusal(f"{sim.url}/page.html")
    assert error.http_status == 502 and "text/html" in error.message
    error = refusal(f"{sim.url}/missing.png")
    assert error.http_status == 502 and "HTTP 404" in error.message


class TricklingServer:
    """Answers 200 image/png with a large Content-Length, then one byte every 0.1 s (never finishes in time)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(200):
                if self.stop.is_set():
                    break
                conn.sendall(b"x")
                time.sleep(0.1)  # a slow-drip server: each read succeeds within the read timeout
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_caps_the_time_spent_on_a_slow_drip_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    server = TricklingServer()
    try:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("MJ_IMAGE_TIMEOUT_SECONDS", "0.6")
        error = refusal(f"http://127.0.0.1:{server.port}/slow.png")
        assert error.http_status == 504 and "took longer than 0.6s" in error.message
    finally:
        server.close()
