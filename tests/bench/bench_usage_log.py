"""Usage-log paging cost (docs/usage-log.md): ledger items read per page, counted with a botocore hook (not timed).

One table under in-process moto holds a user with 10,000 ledger entries and one with 100 (BENCH_USAGE_LOG_SCALES
changes them). For each: items the Queries evaluated (ScannedCount) for page 1, page 2 and page 4 of
/api/log/self's listing (services/usage_log/listing.py, page size 20). The figures must be equal at both
scales: a page costs the page (plus one look-ahead row and the rows before its offset), not the log's length.
Entries are written with BatchWrite through PynamoDB (bench data; the money transactions write the same items).
"""

from __future__ import annotations

import os
from typing import Any

PAGE_SIZE = 20
PAGES = (1, 2, 4)  # page 5 would be the 100-entry log's last (no look-ahead row to read)
BASE_MS = 1_760_000_000_000
DEFAULT_SCALES = "10000,100"


class LedgerReads:
    """`after-call.dynamodb` hook: index entries evaluated by Queries on the ledger table."""

    def __init__(self) -> None:
        self.items = 0
        self.requests = 0

    def __call__(self, parsed: Any = None, model: Any = None, context: Any = None, **kwargs: Any) -> None:
        params = (context or {}).get("bench_params") or {}
        if model is not None and model.name == "Query" and params.get("TableName") == os.environ.get("LEDGER_TABLE"):
            self.items += int((parsed or {}).get("ScannedCount", 0))
            self.requests += 1


def _populate(user_id: int, entries: int) -> None:
    from taskcenter.store.models import LedgerEntry
    from taskcenter.store.money import day_of

    with LedgerEntry.batch_write() as batch:
        for i in range(entries):
            at = BASE_MS + i * 1000
            kind = ("charge", "charge", "refund", "credit")[i % 4]
            batch.save(LedgerEntry(user_id=user_id, entry=f"{kind}#task_b{user_id}_{i}#0", kind=kind, amount=10 + i % 7,
                                   task_id=f"task_b{user_id}_{i}", at_ms=at, day=day_of(at)))


def _principal(user_id: int) -> Any:
    from taskcenter.services.core.auth import Principal

    return Principal(user_id=user_id, username=f"bench{user_id}", role=1, group="default", plan="Pro",
                     timezone="UTC", token_hash="", kind="access", unlimited=True, remaining_quota=0)


def run(scales: list[int]) -> list[dict[str, Any]]:
    from taskcenter.services.usage_log import listing
    from taskcenter.store import db

    from tests.bench.bench_listing import _remember_params
    from tests.support import create_tables

    create_tables()
    for n, entries in enumerate(scales, start=1):
        _populate(n, entries)
    counter = LedgerReads()
    session = db.botocore_session()
    session.register("before-parameter-build.dynamodb", _remember_params)
    session.register("after-call.dynamodb", counter)
    from taskcenter.store.models import ALL_MODELS

    for model in ALL_MODELS:
        model._connection = None  # clients copy the session's hooks when they are created
    db._connection = None
    out: list[dict[str, Any]] = []
    figures: dict[int, list[int]] = {}
    for n, entries in enumerate(scales, start=1):
        for page in PAGES:
            counter.items = counter.requests = 0
            data = listing.list_own({"p": str(page), "page_size": str(PAGE_SIZE)}, _principal(n))
            assert len(data["items"]) == PAGE_SIZE
            figures.setdefault(page, []).append(counter.items)
            out.append({"metric": f"ledger items read, page {page} of a user with {entries:,} entries",
                        "value": counter.items, "unit": "items", "note": f"{counter.requests} Query"})
    same = all(len(set(values)) == 1 for values in figures.values())
    out.append({"metric": "items read per page independent of the log's length", "value": "yes" if same else "NO",
                "target": "yes"})
    return out


def rows() -> list[dict[str, Any]]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    for var in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL"):
        os.environ.pop(var, None)
    from moto import mock_aws  # before any botocore session exists: moto hooks sessions created after import

    scales = [int(x) for x in os.environ.get("BENCH_USAGE_LOG_SCALES", DEFAULT_SCALES).split(",") if x.strip()]
    with mock_aws():
        return run(scales)
