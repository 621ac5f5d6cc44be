"""A webhook receiver for the local stack (docs/webhooks.md, docs/local-stack.md): every POST to a path
other than /control/... is a delivery. It is recorded, its signature verified with the `standardwebhooks`
library (against the secrets given for that path), and answered from the path's script, e.g. 500, 500,
then 200 forever. Point an endpoint (or a notifyHook) at {receiver}/<any path>.

    POST /control/script   {"path": "/a", "statuses": [500, 500], "then": 200, "secrets": ["whsec_..."]}
    GET  /control/received?path=/a   [{"path", "headers", "body", "status", "verified"}, ...]
    GET  /health

    python -m infra.local.webhook_receiver --port 8020
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standardwebhooks import Webhook


class Receiver:
    def __init__(self) -> None:
        self.scripts: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            script = self.scripts.setdefault(path, {"statuses": [], "then": 200, "secrets": []})
            status = script["statuses"].pop(0) if script["statuses"] else int(script["then"])
            verified = False
            for secret in script["secrets"]:
                try:
                    Webhook(secret).verify(body, headers)
                    verified = True
                    break
                except Exception:  # noqa: S112 - the next secret may match
                    continue
            self.received.append({"path": path, "headers": headers, "body": body.decode(errors="replace"),
                                  "status": status, "verified": verified})
            return status


def server(receiver: Receiver, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path == "/health":
                self._reply(200, {"ok": True})
            elif url.path == "/control/received":
                wanted = (parse_qs(url.query).get("path") or [""])[0]
                with receiver.lock:
                    rows = [r for r in receiver.received if not wanted or r["path"] == wanted]
                self._reply(200, rows)
            else:
                self._reply(404, {"error": "no such path"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path).path
            if path == "/control/script":
                doc = json.loads(body or b"{}")
                with receiver.lock:
                    receiver.scripts[str(doc["path"])] = {"statuses": list(doc.get("statuses") or []),
                                                          "then": int(doc.get("then", 200)),
                                                          "secrets": list(doc.get("secrets") or [])}
                self._reply(200, {"ok": True})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._reply(receiver.answer(path, headers, body), {"received": True})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    return httpd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.webhook_receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    httpd = server(Receiver(), args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
