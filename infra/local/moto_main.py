"""The local stack's AWS emulation: moto's server app, with DynamoDB requests made atomic.

moto's backends take no locks, so two concurrent conditional writes can interleave and both "win".
Real DynamoDB evaluates a condition and applies the write atomically; one lock around each DynamoDB
request restores that, so races on the local stack behave as on AWS. SQS requests are not serialised:
a long-polling ReceiveMessage waits inside its request and must not block everyone else.

    python -m infra.local.moto_main --host 127.0.0.1 --port 5010
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.exceptions as dynamodb_exceptions
import moto.dynamodb.models as dynamodb_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from infra.local.moto_state import state_routes

_DYNAMODB_LOCK = threading.Lock()


def serialize_dynamodb(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _DYNAMODB_LOCK:
                return list(app(environ, start_response))  # consume the body inside the lock
        return app(environ, start_response)

    return wrapped


class _TablesByReference:
    """Stands in for the `copy` module inside moto's DynamoDB backend: tables are not deep-copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, dynamodb_models.Table):
            return value
        return copy.deepcopy(value, memo)


TRANSACT_MAX_BYTES = 4 * 1024 * 1024  # DynamoDB: a transaction's items total at most 4 MB


def _require_within_limits(transact_items: list[dict[str, Any]]) -> None:
    """Refuse what DynamoDB refuses and moto does not check: a transaction over 4 MB of items (moto checks
    the 100-item limit itself). Measured on the request's items (names, values, type tags): an upper bound."""
    size = len(json.dumps(transact_items, separators=(",", ":"), default=str).encode())
    if size > TRANSACT_MAX_BYTES:
        raise dynamodb_exceptions.MockValidationException(
            f"Transaction request exceeds the maximum aggregate item size of 4 MB ({size} bytes)")


def transact_with_item_snapshots(original: Callable[..., None]) -> Callable[..., None]:
    """moto backs up every table a transaction names (a deep copy of the whole table) to roll back on
    failure: at a few hundred tasks each transaction copies the tasks table, the server runs at 100 % CPU and
    its memory grows by gigabytes a minute (found by the chaos run). DynamoDB requests are serialised here, so
    snapshotting only the items the transaction touches, and putting them back on failure, is equivalent.
    """

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _require_within_limits(transact_items)
        snapshots: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            table = self.tables[name]
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr)
                                    if k and "Item" in op and k in op["Item"]}
            try:
                current = self.get_item(name, key)
            except Exception:  # a malformed key: moto's own validation answers it below
                current = None
            snapshots.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            original(self, transact_items)
        except Exception:
            for name, key, attributes in reversed(snapshots):
                try:
                    if attributes is None:
                        self.delete_item(name, key)
                    else:
                        self.put_item(name, attributes)
                except Exception:  # nothing was written for this key
                    pass
            raise

    return transact_write_items


def install_item_snapshots() -> None:
    dynamodb_models.copy = _TablesByReference()  # type: ignore[assignment]
    backend = dynamodb_models.DynamoDBBackend
    if not getattr(backend.transact_write_items, "_item_snapshots", False):
        patched = transact_with_item_snapshots(backend.transact_write_items)
        patched._item_snapshots = True  # type: ignore[attr-defined]
        backend.transact_write_items = patched  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5010)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    install_item_snapshots()
    app = DomainDispatcherApplication(create_backend_app)
    served = state_routes(serialize_dynamodb(app), _DYNAMODB_LOCK)  # GET/POST /_local/state: infra/local/snapshot.py
    run_simple(args.host, args.port, served, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
