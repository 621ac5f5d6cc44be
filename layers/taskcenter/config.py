"""AWS wiring read from the environment: table names, queue URLs, the region and endpoint overrides.

Read at call time (not import time): tests and the local stack create tables and queues after import.
Every other setting is in taskcenter/settings.py; docs/configuration.md lists both.
"""

from __future__ import annotations

import os

# Logical table name -> environment variable holding the physical name (set by template.yaml).
TABLE_ENV = {
    "users": "USERS_TABLE",
    "credentials": "CREDENTIALS_TABLE",
    "channels": "CHANNELS_TABLE",
    "tasks": "TASKS_TABLE",
    "ledger": "LEDGER_TABLE",
    "counters": "COUNTERS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
    "webhooks": "WEBHOOKS_TABLE",
}

# Service -> environment variable of its endpoint override (else AWS_ENDPOINT_URL, else the SDK's default).
ENDPOINT_ENV = {
    "dynamodb": "DYNAMODB_ENDPOINT_URL",
    "kms": "KMS_ENDPOINT_URL",
    "s3": "S3_ENDPOINT_URL",
    "secretsmanager": "SECRETSMANAGER_ENDPOINT_URL",
    "sqs": "SQS_ENDPOINT_URL",
}

QUEUE_ENV = {
    "poll": "POLL_QUEUE_URL",
    "refund": "REFUND_QUEUE_URL",
    "retry": "RETRY_QUEUE_URL",
    "keep": "KEEP_QUEUE_URL",  # the result keeper (docs/results.md)
    "webhook": "WEBHOOK_QUEUE_URL",
}

# The private bucket results are kept in (template.yaml's ResultsBucket; docs/results.md).
RESULTS_BUCKET_ENV = "RESULTS_BUCKET"


def table_name(logical: str) -> str:
    return os.environ.get(TABLE_ENV[logical], f"taskcenter-{logical}")


def queue_url(logical: str) -> str:
    return os.environ.get(QUEUE_ENV[logical], "")


def results_bucket() -> str:
    return os.environ.get(RESULTS_BUCKET_ENV, "")


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_url(service: str) -> str | None:
    """Only the local stack sets these (moto server); on AWS they are unset and the SDK default applies."""
    return os.environ.get(ENDPOINT_ENV[service]) or os.environ.get("AWS_ENDPOINT_URL") or None


def dynamodb_endpoint() -> str | None:
    return endpoint_url("dynamodb")
