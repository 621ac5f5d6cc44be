"""Settings read from the environment, lazily, so the same code runs on AWS, the local stack and moto.

Every value is read at call time (not import time): tests and the local stack set variables after
import, and a Lambda's environment never changes within a process, so nothing is lost.
"""

from __future__ import annotations

import json
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
}

QUEUE_ENV = {
    "poll": "POLL_QUEUE_URL",
    "refund": "REFUND_QUEUE_URL",
    "retry": "RETRY_QUEUE_URL",
}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return int(raw)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return float(raw)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def table_name(logical: str) -> str:
    return os.environ.get(TABLE_ENV[logical], f"taskcenter-{logical}")


def queue_url(logical: str) -> str:
    return os.environ.get(QUEUE_ENV[logical], "")


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def dynamodb_endpoint() -> str | None:
    """Only the local stack sets this (moto server); on AWS it is unset and the SDK default applies."""
    return os.environ.get("DYNAMODB_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None


def json_env(name: str, default: dict) -> dict:
    raw = os.environ.get(name)
    if not raw:
        return dict(default)
    merged = dict(default)
    merged.update(json.loads(raw))
    return merged


def public_base_url() -> str:
    return os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
