"""Powertools logger and metrics shared by every handler (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "task-center"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="TaskCenter", service=SERVICE)
