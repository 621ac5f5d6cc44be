"""The local stack's AWS emulation: moto's server app, with DynamoDB requests made atomic.

moto's backends take no locks, so two concurrent conditional writes can interleave and both "win".
Real DynamoDB evaluates a condition and applies the write atomically; one lock around each DynamoDB
request restores that, so races on the local stack behave as on AWS. SQS requests are not serialised:
a long-polling ReceiveMessage waits inside its request and must not block everyone else.

    python -m infra.local.moto_main --host 127.0.0.1 --port 5010
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_DYNAMODB_LOCK = threading.Lock()


def serialize_dynamodb(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _DYNAMODB_LOCK:
                return list(app(environ, start_response))  # consume the body inside the lock
        return app(environ, start_response)

    return wrapped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5010)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
