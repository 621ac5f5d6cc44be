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


def flush_metrics() -> None:
    """Publish what the invocation counted (EMF to stdout -> CloudWatch); nothing when it counted nothing.
    The one flush of every handler (routes: functions/_http.guarded; jobs: functions/jobs.py). A failed
    flush is logged, never raised: metrics must not turn an answer, or a batch that did its work, into an error."""
    try:
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception:
        logger.warning("metrics flush failed", exc_info=True)
