"""Transactions and error classification shared by the repositories."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import botocore.session
import pynamodb.connection.base as _pynamodb_connection
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from taskcenter import config

T = TypeVar("T")

# DynamoDB's TransactWriteItems limits (the Amazon DynamoDB service quotas): at most 100 items, and at most
# 4 MB of items, per request. Chunked writes size themselves from the items they build (docs/task-api-v1.md).
TRANSACT_WRITE_MAX_ITEMS = 100
TRANSACT_WRITE_MAX_BYTES = 4 * 1024 * 1024

_sessions = threading.local()


def botocore_session() -> botocore.session.Session:
    """One botocore session per thread for every table connection (and the SQS client).

    PynamoDB builds a new session per model connection, and each session loads botocore's endpoint
    and service data again (~100 ms each): six tables cost most of a cold start. Sessions are
    per-thread, exactly as PynamoDB keeps them, so sharing one per thread changes nothing else.
    """
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = botocore.session.get_session()
    return session


_pynamodb_connection.get_session = botocore_session  # the seam PynamoDB's Connection.session uses

_clients: dict[tuple[str, str, str | None], Any] = {}


def aws_client(service: str) -> Any:
    """One boto3 client per service, region and endpoint (SQS, KMS, Secrets Manager), built alike: the shared
    botocore session, standard retries, short timeouts, and the local stack's endpoint when one is set
    (config.endpoint_url; on AWS the SDK's default applies)."""
    endpoint = config.endpoint_url(service)
    key = (service, config.region(), endpoint)
    client = _clients.get(key)
    if client is None:
        import boto3
        from botocore.config import Config

        client = _clients[key] = boto3.session.Session(botocore_session=botocore_session()).client(
            service, region_name=key[1], endpoint_url=endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5))
    return client

_connection: Connection | None = None
_connection_key: tuple[str, str | None] | None = None


def connection() -> Connection:
    """One low-level connection for transactions, rebuilt if the region/endpoint changes (tests)."""
    global _connection, _connection_key
    key = (config.region(), config.dynamodb_endpoint())
    if _connection is None or _connection_key != key:
        _connection = Connection(region=key[0], host=key[1])
        _connection_key = key
    return _connection


def cancellation_codes(error: TransactWriteError) -> list[str]:
    """Per-item reasons of a cancelled transaction ('None', 'ConditionalCheckFailed', 'TransactionConflict', ...)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [(r.code if r is not None else "None") or "None" for r in reasons]


def transaction_items(tx: TransactWrite) -> list[dict[str, Any]]:
    """The items a (not yet sent) TransactWrite holds, in the order PynamoDB sends them
    (condition checks, deletes, puts, updates: not the order the caller added them)."""
    return tx._condition_check_items + tx._delete_items + tx._put_items + tx._update_items


def items_bytes(items: list[dict[str, Any]]) -> int:
    """An upper bound of the items' size as DynamoDB counts it: their request JSON (names, values, type tags)."""
    return len(json.dumps(items, separators=(",", ":"), default=str).encode())


def fits_one_transaction(items: list[dict[str, Any]]) -> bool:
    return len(items) <= TRANSACT_WRITE_MAX_ITEMS and items_bytes(items) <= TRANSACT_WRITE_MAX_BYTES


class TransactionTooLarge(RuntimeError):
    """A transaction built past DynamoDB's limits: a bug in the caller's chunking, refused before sending."""


def require_fits(tx: TransactWrite) -> None:
    items = transaction_items(tx)
    if not fits_one_transaction(items):
        raise TransactionTooLarge(f"transaction of {len(items)} items / {items_bytes(items)} bytes exceeds "
                                  f"{TRANSACT_WRITE_MAX_ITEMS} items / {TRANSACT_WRITE_MAX_BYTES} bytes")


def failed_tables(tx: Any, error: TransactWriteError) -> list[str]:
    """Tables of the items whose condition failed, in the order PynamoDB sent them."""
    items = transaction_items(tx)
    codes = cancellation_codes(error)
    return [items[i].get("TableName", "") for i, code in enumerate(codes)
            if code == "ConditionalCheckFailed" and i < len(items)]


def is_conflict(error: TransactWriteError) -> bool:
    codes = cancellation_codes(error)
    return "TransactionConflict" in codes or error.cause_response_code in {
        "TransactionConflictException",
        "TransactionInProgressException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    }


def with_conflict_retry(operation: Callable[[], T], attempts: int = 5) -> T:
    """Re-run a transaction cancelled only by a concurrent transaction on the same items.

    botocore retries throttling by itself, but a TransactionCanceled(TransactionConflict) is an
    application-level outcome: the caller must rebuild and resend. Condition failures are final
    and are raised at once. No sleeping in Lambda: the randomised attempt order is enough for the
    few-item transactions here, and a persistent conflict surfaces as an error (SQS redelivers).
    """
    last: TransactWriteError | None = None
    for _ in range(attempts):
        try:
            return operation()
        except TransactWriteError as error:
            if not is_conflict(error):
                raise
            last = error
    assert last is not None
    raise last


def conditional_transaction(build: Callable[[TransactWrite], None]) -> bool:
    """Run one transaction that `build` fills in (conflicts retried). True if it was written; False if one
    of its conditions failed, i.e. another writer moved first: the loser of a race is a no-op, not an error."""

    def run() -> None:
        with TransactWrite(connection=connection()) as tx:
            build(tx)

    try:
        with_conflict_retry(run)
    except TransactWriteError as error:
        if "ConditionalCheckFailed" in cancellation_codes(error):
            return False
        raise
    return True


def conditional_update(item: Any, actions: list[Any], condition: Any) -> bool:
    """One conditional UpdateItem; False when its condition failed (the item then is as it was)."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def index_not_ready(error: Exception) -> bool:
    """A Query refused because its GSI does not exist (yet) or is still backfilling: the staged index
    migrations (docs/deploy.md). PynamoDB refuses an index its model does not declare (ValueError); DynamoDB
    answers ValidationException (no such index, or backfilling), moto ResourceNotFoundException."""
    if isinstance(error, ValueError):
        return "has no index" in str(error)
    if isinstance(error, PynamoDBException):
        cause = str(getattr(error, "cause", "") or error)
        code = getattr(error, "cause_response_code", None)
        return code in ("ValidationException", "ResourceNotFoundException") and "index" in cause.lower()
    return False
