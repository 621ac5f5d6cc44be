"""Task API v1 create at its documented maximum (1,000 tasks): what it costs in DynamoDB requests.

One `POST /api/v1/task` of 200 devices x 5 follow targets through the Chalice test client (in-process
moto, the local stack's item snapshots for transactions). Reported: DynamoDB requests of the create by
operation, TransactWriteItems requests and their largest size (DynamoDB's limit: 100 items), tasks per
charge transaction. Counts, not timings (docs/task-api-v1.md has the local stack's seconds).

Run: `.venv/bin/python -m tests.bench v1_create`.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

DEVICES, TARGETS = 200, 5


def _env() -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL", "SQS_ENDPOINT_URL"):
        os.environ.pop(key, None)


def measure() -> dict[str, Any]:
    _env()
    import moto.dynamodb.models as dynamodb_models
    from chalice.test import Client
    from moto import mock_aws

    from infra.local import moto_main
    from tests.support import create_queues, create_tables, make_account, record_dynamodb_calls, serialize_aws_requests

    moto_main.install_item_snapshots()
    assert dynamodb_models.DynamoDBBackend.transact_write_items._item_snapshots  # type: ignore[attr-defined]
    with mock_aws(), serialize_aws_requests():
        os.environ.update(create_tables())
        os.environ.update(create_queues())
        from taskcenter.services.admin import operations as admin
        from taskcenter.services.core import channels

        from app import app

        account = make_account("bench", quota=100_000_000)
        devices = [f"dev{i:03d}" for i in range(DEVICES)]
        os.environ["PRIVATE_HOST_ALLOWLIST"] = "127.0.0.1:9"
        admin.create_channel("tikmatrix", "http://127.0.0.1:9", name="host", devices=devices)
        channels.clear_cache()
        body = {"serials": devices, "script_name": "follow",
                "script_config": {"target_usernames": [f"t{i}" for i in range(TARGETS)]}}
        import json

        recorder = record_dynamodb_calls()
        with Client(app) as client, recorder:
            reply = client.http.post("/api/v1/task", body=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {account.api_key}",
                                              "Content-Type": "application/json"})
        data = json.loads(reply.body)
        assert data["code"] == 0, data
        return {"tasks": data["data"]["created_count"], "calls": Counter(op for op, _ in recorder.calls),
                "sizes": recorder.transaction_sizes}


def rows() -> list[dict[str, Any]]:
    got = measure()
    calls, sizes = got["calls"], got["sizes"]
    charges = [s for s in sizes if s > 0]
    out = [{"metric": "tasks created by one request", "value": got["tasks"], "target": 1000},
           {"metric": "DynamoDB requests of the create", "value": sum(calls.values()),
            "note": ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))},
           {"metric": "TransactWriteItems requests", "value": len(sizes),
            "note": "charge chunks + releases (100 updates each)"},
           {"metric": "largest transaction (items)", "value": max(charges), "target": "<= 100"},
           {"metric": "DynamoDB requests per task", "value": round(sum(calls.values()) / got["tasks"], 3)}]
    return out


if __name__ == "__main__":
    for row in rows():
        print(row)
