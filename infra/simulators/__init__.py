"""Simulated upstream providers (Suno API, midjourney-proxy, TikMatrix host) for tests and the local stack."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

# What an expired signed file URL answers (S3's and most CDNs' answer once a URL's signature lapsed).
EXPIRED_BODY = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def file_bytes(name: str, size: int) -> bytes:
    """The bytes a simulator serves for a result file `name`: deterministic, so a copy can be compared byte
    for byte, and different per file."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class QuietJsonHandler(BaseHTTPRequestHandler):
    """The simulators' request handler base: HTTP/1.1, no access log, and one way to answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests and the stack log elsewhere
        return

    def send_body(self, status: int, body: Any, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
        """Answer with `body`: bytes as they are, anything else as JSON."""
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def send_file(self, name: str, size: int, *, expired: bool) -> None:
        """A result file (`<name>.mp3|mp4|png`, `file_bytes(name, size)`; an image a tenth of `size`), or the
        403 of an expired signed URL."""
        types = {"mp3": "audio/mpeg", "png": "image/png", "mp4": "video/mp4"}
        kind = name.rsplit(".", 1)[-1]
        if expired:
            self.send_body(403, EXPIRED_BODY, "application/xml")
        elif kind not in types:
            self.send_body(404, {"error": "no such file"})
        else:
            self.send_body(200, file_bytes(name, max(1, size // 10 if kind == "png" else size)), types[kind])
