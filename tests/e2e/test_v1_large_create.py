"""Task API v1: a 1,000-task create on the local stack (its moto server refuses transactions past DynamoDB's
limits, as AWS does): answered, every task written and charged once, the counters exact. The tasks are
scheduled for tomorrow so they do not load the shared stack; docs/task-api-v1.md has the seconds."""

from __future__ import annotations

import secrets
import time
from collections import Counter

import pytest

from tests.e2e.conftest import RunningStack


def test_a_1000_task_create_over_http_is_written_whole(local_stack: RunningStack,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    local_stack.use_env(monkeypatch)
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels
    from taskcenter.store import money
    from taskcenter.store.models import LedgerEntry

    host = next(c for c in local_stack.channels if c.get("type") == "tikmatrix")
    devices = [f"large{secrets.token_hex(2)}{i:03d}" for i in range(200)]
    monkeypatch.setenv("ALLOW_PRIVATE_UPSTREAMS", "1")
    admin.create_channel("tikmatrix", host["base_url"], name="large-host", devices=devices)
    channels.clear_cache()
    name = "large" + secrets.token_hex(4)
    user = admin.create_user(name, quota=500_000_000, plan="Business")
    key = admin.issue_credential(user["id"], "key")
    headers = {"Authorization": f"Bearer {key['token']}"}
    body = {"serials": devices, "script_name": "follow", "start_time": "23:59",
            "script_config": {"target_usernames": [f"t{i}" for i in range(5)]}}
    # The stack's API process caches the channels of a type for 10 s (services/core/channels.py): a warm
    # container sees the host added above within that; until then the create is a 400 that writes nothing.
    deadline = time.monotonic() + 15
    while True:
        status, reply = local_stack.post("/api/v1/task", body, headers=headers, timeout=60)
        if status != 400 or "not connected" not in str(reply.get("message")) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200 and reply["code"] == 0 and reply["data"]["created_count"] == 1000, reply
    ids = reply["data"]["task_ids"]
    assert len(set(ids)) == 1000
    local_stack.settle()  # the counters follow the tasks stream
    _, stats = local_stack.get("/api/v1/task/stats", headers=headers)
    assert (stats["data"]["total"], stats["data"]["pending"]) == (1000, 1000)
    charges = Counter(e.task_id for e in LedgerEntry.query(user["id"], consistent_read=True) if e.kind == "charge")
    assert charges == Counter({f"v1_{n}": 1 for n in ids})
    assert money.audit_user(user["id"]).ok
