"""Powertools logger and metrics shared by every handler (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics

SERVICE = "task-center"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="TaskCenter", service=SERVICE)


@contextmanager
def task_log_context(task_id: str) -> Iterator[None]:
    """Every log line written meanwhile (ours, submission's, money's) carries the task id."""
    logger.append_keys(task_id=task_id)
    try:
        yield
    finally:
        logger.remove_keys(["task_id"])
