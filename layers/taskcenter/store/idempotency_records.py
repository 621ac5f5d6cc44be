"""Where idempotency records live: Powertools' DynamoDB persistence layer on the idempotency table, one per
table/region/endpoint per process (services/core/idempotency.py uses it; docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from taskcenter import config

_layers: dict[tuple[str, str, str | None], Any] = {}


def persistence_layer() -> Any:
    """The persistence layer for the table in use (tests create tables after import: resolved per call)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # late: cold start

    key = (config.table_name("idempotency"), config.region(), config.dynamodb_endpoint())
    layer = _layers.get(key)
    if layer is None:
        layer = DynamoDBPersistenceLayer(table_name=key[0])
        _layers[key] = layer
    return layer
