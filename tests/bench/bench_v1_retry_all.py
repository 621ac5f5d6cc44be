"""Task API v1 retry-all at scale: the cost of one page does not grow with the number of failed tasks.

N failed v1 tasks are written straight into the tables (in-process moto), for two sizes of N; retry-all is
started (the answer runs the first page itself, for the reference's reset count) and its second page handled.
Reported: DynamoDB requests of the answer (two counter reads around one page) and of one page, per size, so
the ratio shows a page costs the same whatever N is; then the run of the smaller size is driven to the end
with every page message delivered twice: each task restarted exactly once. From the page size, 100,000
failed tasks are 1,000 page messages.

Run: `.venv/bin/python -m tests.bench v1_retry_all`.
"""

from __future__ import annotations

import json
import os
from typing import Any

PAGE = 20
SIZES = (100, 1000)


def _env() -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
                       "V1_RETRY_ALL_PAGE_SIZE": str(PAGE), "V1_MAX_RETRIES": "3"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL", "SQS_ENDPOINT_URL"):
        os.environ.pop(key, None)


def _seed_failed(user_id: int, count: int, first_id: int) -> None:
    from taskcenter import clock
    from taskcenter.domain import states

    from tests.integration.suno_support import write_tasks

    write_tasks([{"task_id": f"v1_{n}", "numeric_id": n, "kind": "task", "platform": "tikmatrix", "user_id": user_id,
                  "action": "post", "status": states.FAILURE, "channel_id": 1, "model_name": "v1_post",
                  "serial": f"dev{n % 5}", "submit_ms": clock.now_ms() - 60_000, "fail_reason": "simulated"}
                 for n in range(first_id, first_id + count)])


def _retry_messages() -> list[dict[str, Any]]:
    import boto3
    from taskcenter import config

    sqs, url, out = boto3.client("sqs"), config.queue_url("retry"), []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def rows() -> list[dict[str, Any]]:
    _env()
    from moto import mock_aws

    from tests.support import create_queues, create_tables, make_account, record_dynamodb_calls

    out: list[dict[str, Any]] = []
    page_costs: dict[int, int] = {}
    for size in SIZES:
        with mock_aws():
            create_tables()
            create_queues()
            from taskcenter.services.core.auth import authenticate_any
            from taskcenter.services.task_api_v1 import manual_retry as v1_retry
            from taskcenter.store.models import Task

            account = make_account(f"bench{size}", quota=10**12)
            principal = authenticate_any(f"Bearer {account.api_key}")
            _seed_failed(account.user_id, size, 1000)
            with record_dynamodb_calls() as answer_calls:
                answer = v1_retry.start_retry_all(principal)
            first = [m for m in _retry_messages() if m.get("kind") == v1_retry.PAGE_KIND][0]
            with record_dynamodb_calls() as page_calls:
                restarted = v1_retry.retry_all_page(first)
            page_costs[size] = len(page_calls)
            out.append({"metric": f"retry-all answer, {size} failed tasks", "value": len(answer_calls),
                        "unit": "DynamoDB requests", "note": f"reset={answer} (first page + the failed left)"})
            out.append({"metric": f"one page ({PAGE} tasks), {size} failed tasks", "value": len(page_calls),
                        "unit": "DynamoDB requests", "note": f"restarted {restarted}"})
            if size == SIZES[0]:
                pages = 2  # the answer's own page and `first`
                for message in [m for m in _retry_messages() if m.get("kind") == v1_retry.PAGE_KIND]:
                    pending = [message]
                    while pending:
                        page = pending.pop()
                        pages += 1
                        v1_retry.retry_all_page(page)
                        v1_retry.retry_all_page(page)  # every page delivered twice
                        pending += [m for m in _retry_messages() if m.get("kind") == v1_retry.PAGE_KIND]
                attempts = [int(t.attempt) for t in Task.batch_get([f"v1_{n}" for n in range(1000, 1000 + size)])]
                out.append({"metric": f"run of {size} failed tasks, pages delivered twice", "value": pages,
                            "unit": "pages", "target": f"{size // PAGE + 1}",
                            "note": f"each restarted once: {attempts.count(2) == size} (+1: the end is an empty page)"})
    out.append({"metric": "page cost ratio", "value": f"{page_costs[SIZES[1]] / page_costs[SIZES[0]]:.2f}",
                "unit": f"{SIZES[1]} vs {SIZES[0]} failed", "target": "1.00"})
    out.append({"metric": "page messages for 100,000 failed tasks", "value": 100_000 // 100,
                "unit": "messages", "note": "default V1_RETRY_ALL_PAGE_SIZE 100; each one Lambda invocation"})
    return out
