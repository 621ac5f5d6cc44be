"""The local stack's API: `chalice local`, with a listen backlog that serves concurrent clients.

chalice.local.ThreadedHTTPServer handles each connection in a thread but keeps socketserver's default
`request_queue_size` of 5: a burst of more than a few new connections overflows the listen queue and the
kernel resets them (issue 12; docs/local-stack.md, "The API"). `request_queue_size` is the socketserver
attribute meant to be overridden, so it is raised on chalice's class before the server is built, and
`chalice local` runs unchanged otherwise (same app loading, route validation, logging).

    python -m infra.local.api_server --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import socket
import sys

from chalice import local as chalice_local
from chalice.cli import main as chalice_main

# The kernel caps a larger value at net.core.somaxconn, so SOMAXCONN means "as many as the system allows".
BACKLOG = max(socket.SOMAXCONN, 128)


def main(argv: list[str] | None = None) -> None:
    chalice_local.ThreadedHTTPServer.request_queue_size = BACKLOG
    args = list(sys.argv[1:] if argv is None else argv)
    # --no-autoreload: the reloader would run the server in a child process of its own, out of supervision
    sys.argv = ["chalice", "local", *args, "--no-autoreload"]  # chalice's click CLI reads sys.argv
    sys.exit(chalice_main())


if __name__ == "__main__":
    main()
