"""Refused relay submits over HTTP against the local stack (issue 14; docs/decisions.md, "Money"): what a reply
says was refused is never charged. MJ 24, 23 (every channel's queue full) and HTTP 503 on every channel, and
Suno's refusal (HTTP 200 with a refusal code) and 400: each answered as new-api answers it, and afterwards the
user's usage log (built from the ledger) holds only the top-up, no task is listed, and quota, used quota,
request count and the key's quota are what they were. Fails on 9fc717d: each refusal was a consume and a
refund row in the log, a FAILURE task in the listings, and HTTP 502 for the upstream's 503.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_mj_dooy_conformance import _sim_config
from tests.e2e.test_mj_local_stack import fresh_account

pytestmark = pytest.mark.e2e


def state(stack: Any, account: Any) -> dict[str, Any]:
    status, me = stack.get("/api/user/self", headers=account.dashboard_headers())
    assert status == 200, me
    stack.settle()  # the listing totals follow the tasks table's stream (docs/listing.md "total")
    status, log = stack.get("/api/log/self?p=1&page_size=50", headers=account.dashboard_headers())
    assert status == 200, log
    listed = {path: stack.get(path, headers=account.dashboard_headers())[1]["data"]["total"]
              for path in ("/api/mj/self", "/api/task/self")}
    data = me["data"]
    return {"quota": data["quota"], "used_quota": data["used_quota"], "request_count": data["request_count"],
            "log": sorted((row["type"], row["quota"]) for row in log["data"]["items"]), "listed": listed}


def test_refused_submits_leave_no_log_row_no_task_and_every_balance_as_it_was(
        local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    account = fresh_account(local_stack, monkeypatch)
    h = account.relay_headers()
    before = state(local_stack, account)
    assert [t for t, _ in before["log"]] == [1]  # the top-up only

    status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "sim:banned"}, headers=h)
    assert (status, reply["code"]) == (200, 24), reply
    sims = {c["base_url"] for c in local_stack.channels if c.get("type") == "midjourney"}
    for sim in sims:
        _sim_config(sim, queue_full_rate=1.0)
    try:
        status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "a fox"}, headers=h)
    finally:
        for sim in sims:
            _sim_config(sim, queue_full_rate=0.0)
    assert (status, reply["code"]) == (200, 23), reply
    status, reply = local_stack.post("/suno/submit/music", {"prompt": "sim:refuse this"}, headers=h)
    assert (status, reply["data"]) == (500, None), reply
    assert state(local_stack, account) == before

    # Non-2xx replies: the upstream's status (and body), as new-api relays them; nothing charged either.
    status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "sim:busy"}, headers=h)
    assert status == 503, reply  # HTTP 503 on every channel
    status, reply = local_stack.post("/suno/submit/music", {"prompt": "sim:reject this"}, headers=h)
    assert (status, reply["code"]) == (400, "fail_to_fetch_task"), reply
    assert state(local_stack, account) == before

    # An accepted submit still charges once (one consume row) and is listed.
    status, reply = local_stack.post("/mj/submit/imagine", {"prompt": "a calm fox"}, headers=h)
    assert (status, reply["code"]) == (200, 1), reply
    after = state(local_stack, account)
    assert [t for t, _ in after["log"]] == [1, 2] and after["listed"]["/api/mj/self"] == 1
