"""Usage-log paging cost (docs/usage-log.md): items read per page, counted with a botocore hook (not timed).

One table under in-process moto holds users with 10,000 and 100 ledger entries (BENCH_USAGE_LOG_SCALES changes
them, e.g. "100000,10000,100"), one entry a minute (60 an hour) ending now. For each: the ledger items read
(Query ScannedCount, GetItem, BatchGetItem items) and the hour-bucket counter items read by /api/log/self's
listing (services/usage_log/listing.py, page size 20) for page 1, page 2, the middle page and the last page of the
whole log (no time window), and pages 1 and 2 of the dashboards' default window (today 00:00 to now + 1 h).
A page costs its rows plus at most the rows of one hour above it (its first row's hour, walked keys only) and
the oldest entry (no window); the counter items are the window's days (one item per UTC day).
The stat (/api/log/self/stat, /api/log/stat) is measured over the whole log, the default window and a window
with two partial edge hours: its quota is summed from the same day items' per-hour amounts plus at most one
hour's rows per edge, and rpm counts the last minute's rows.
Entries are written with BatchWrite through PynamoDB and counted with store/usage_log_counts.add_counts_now
(bench data; the money transactions write the same entries and counts).
"""

from __future__ import annotations

import os
from typing import Any

PAGE_SIZE = 20
PER_HOUR = 60
STEP_MS = 3_600_000 // PER_HOUR
DEFAULT_SCALES = "10000,100"
NOW_MS = 1_764_547_200_000 + 20 * 3_600_000 + 59 * 60_000  # 1 Dec 2025 20:59 UTC: the newest entry's minute


class Reads:
    """`after-call.dynamodb` hook: ledger items and counter items the requests read."""

    def __init__(self) -> None:
        self.ledger = self.counters = self.requests = 0

    def __call__(self, parsed: Any = None, model: Any = None, context: Any = None, **kwargs: Any) -> None:
        parsed = parsed or {}
        table = ((context or {}).get("bench_params") or {}).get("TableName")
        ledger, counters = os.environ.get("LEDGER_TABLE"), os.environ.get("COUNTERS_TABLE")
        if model is None:
            return
        self.requests += 1
        if model.name == "Query" and table == ledger:
            self.ledger += int(parsed.get("ScannedCount", 0))
        elif model.name == "GetItem" and table == ledger:
            self.ledger += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            for name, items in (parsed.get("Responses") or {}).items():
                if name == ledger:
                    self.ledger += len(items)
                elif name == counters:
                    self.counters += len(items)


def _populate(user_id: int, entries: int) -> None:
    from taskcenter.store.models import LedgerEntry
    from taskcenter.store.money import day_of
    from taskcenter.store.usage_log_counts import add_counts_now

    rows = []
    for i in range(entries):
        at = NOW_MS - i * STEP_MS
        kind = ("charge", "charge", "refund", "credit")[i % 4]
        rows.append(LedgerEntry(user_id=user_id, entry=f"{kind}#task_b{user_id}_{i}#0", kind=kind, amount=10 + i % 7,
                                task_id=f"task_b{user_id}_{i}", at_ms=at, day=day_of(at)))
    with LedgerEntry.batch_write() as batch:
        for row in rows:
            batch.save(row)
    add_counts_now(rows)


def _principal(user_id: int) -> Any:
    from taskcenter.services.core.auth import Principal

    return Principal(user_id=user_id, username=f"bench{user_id}", role=1, group="default", plan="Pro",
                     timezone="UTC", token_hash="", kind="access", unlimited=True, remaining_quota=0)


def _install(reads: Reads) -> None:
    from taskcenter.store import db
    from taskcenter.store.models import ALL_MODELS
    from taskcenter.store.usage_log_counts import LogDayCounts

    from tests.bench.bench_listing import _remember_params

    session = db.botocore_session()
    session.register("before-parameter-build.dynamodb", _remember_params)
    session.register("after-call.dynamodb", reads)
    for model in (*ALL_MODELS, LogDayCounts):
        model._connection = None  # clients copy the session's hooks when they are created
    db._connection = None


def _requests(entries: int) -> list[tuple[str, dict[str, str]]]:
    pages = -(-entries // PAGE_SIZE)
    today = NOW_MS - NOW_MS % 86_400_000
    window = {"start_timestamp": str(today // 1000), "end_timestamp": str((NOW_MS + 3_600_000) // 1000)}
    return [("p1", {"p": "1"}), ("p2", {"p": "2"}), (f"middle p{(pages + 1) // 2}", {"p": str((pages + 1) // 2)}),
            (f"last p{pages}", {"p": str(pages)}),
            ("default window p1", {"p": "1", **window}), ("default window p2", {"p": "2", **window})]


def run(scales: list[int]) -> list[dict[str, Any]]:
    from taskcenter import clock
    from taskcenter.services.usage_log import listing

    from tests.support import create_tables

    create_tables()
    for n, entries in enumerate(scales, start=1):
        _populate(n, entries)
    reads = Reads()
    _install(reads)
    clock.set_now(NOW_MS + 60_000)
    out: list[dict[str, Any]] = []
    bounded = True
    first_pages: dict[str, set[int]] = {}
    try:
        for n, entries in enumerate(scales, start=1):
            for name, params in _requests(entries):
                reads.ledger = reads.counters = reads.requests = 0
                data = listing.list_own({**params, "page_size": str(PAGE_SIZE)}, _principal(n))
                assert data["items"] and (name.startswith("default") or data["total"] == entries)
                # its rows, the rows of its first hour above it, the oldest entry (no window)
                bounded &= reads.ledger <= PAGE_SIZE + PER_HOUR + 1
                if name in ("p1", "p2", "default window p1", "default window p2"):
                    first_pages.setdefault(name, set()).add(reads.ledger)
                out.append({"metric": f"items read, {name} of a user with {entries:,} entries",
                            "value": f"{reads.ledger} ledger + {reads.counters} counter", "unit": "items",
                            "note": f"{reads.requests} requests; total {data['total']:,}"})
    finally:
        clock.set_now(None)
    out += _admin_rows(scales, reads)
    out += _stat_rows(scales, reads)
    out.append({"metric": "ledger items per page at most the page + one hour's rows + 1, at every depth and scale",
                "value": "yes" if bounded else "NO", "target": "yes"})
    same = all(len(values) == 1 for values in first_pages.values())
    out.append({"metric": "ledger items for p1, p2 (whole log, default window) equal at every scale",
                "value": "yes" if same else "NO", "target": "yes"})
    return out


def _admin_rows(scales: list[int], reads: Reads) -> list[dict[str, Any]]:
    """/api/log/ (every user) over the same table: the default window's p1 and p2, and the last page of the
    last 8 days (the by_day index, keys only, then one BatchGetItem for the page)."""
    from taskcenter import clock
    from taskcenter.services.usage_log import listing

    today = NOW_MS - NOW_MS % 86_400_000
    window = {"start_timestamp": str(today // 1000), "end_timestamp": str((NOW_MS + 3_600_000) // 1000)}
    week = {"start_timestamp": str((today - 7 * 86_400_000) // 1000)}
    everyone = sum(min(entries, (NOW_MS - (today - 7 * 86_400_000)) // STEP_MS + 1) for entries in scales)
    admin, last = _principal(0), -(-everyone // PAGE_SIZE)
    out: list[dict[str, Any]] = []
    clock.set_now(NOW_MS + 60_000)
    try:
        for name, params in (("default window p1", {"p": "1", **window}), ("default window p2", {"p": "2", **window}),
                             (f"8 days, last p{last}", {"p": str(last), **week})):
            reads.ledger = reads.counters = reads.requests = 0
            data = listing.list_all({**params, "page_size": str(PAGE_SIZE)}, admin)
            assert data["items"]
            out.append({"metric": f"items read, admin {name} ({', '.join(f'{n:,}' for n in scales)} entries)",
                        "value": f"{reads.ledger} ledger + {reads.counters} counter", "unit": "items",
                        "note": f"{reads.requests} requests; total {data['total']:,}"})
    finally:
        clock.set_now(None)
    return out


def _stat_rows(scales: list[int], reads: Reads) -> list[dict[str, Any]]:
    """The stats' items read, per user and for every user (the admin's default 30 days), at every scale."""
    from taskcenter import clock
    from taskcenter.services.usage_log import listing

    today = NOW_MS - NOW_MS % 86_400_000
    windows = {"whole log": {}, "default window": {"start_timestamp": str(today // 1000),
                                                   "end_timestamp": str((NOW_MS + 3_600_000) // 1000)},
               "edges at :20 and :40": {"start_timestamp": str((today + 20 * 60_000) // 1000),
                                         "end_timestamp": str((NOW_MS - 19 * 60_000) // 1000)}}
    out: list[dict[str, Any]] = []
    per_window: dict[str, set[int]] = {}
    bounded = True
    clock.set_now(NOW_MS + 60_000)
    try:
        for n, entries in enumerate(scales, start=1):
            for name, params in windows.items():
                reads.ledger = reads.counters = reads.requests = 0
                data = listing.stat_own(params, _principal(n))
                if name != "edges at :20 and :40":  # the 100 entries' log starts inside that window's first hour
                    per_window.setdefault(name, set()).add(reads.ledger)
                # the oldest entry, at most one hour's rows per edge, the last minute's rows
                bounded &= reads.ledger <= 1 + 2 * PER_HOUR + 2
                out.append({"metric": f"items read, stat ({name}) of a user with {entries:,} entries",
                            "value": f"{reads.ledger} ledger + {reads.counters} counter", "unit": "items",
                            "note": f"{reads.requests} requests; quota {data['quota']:,}, rpm {data['rpm']}"})
        for name, params in windows.items():
            reads.ledger = reads.counters = reads.requests = 0
            data = listing.stat_all(params, _principal(0))
            out.append({"metric": f"items read, admin stat ({name}; {', '.join(f'{n:,}' for n in scales)} entries)",
                        "value": f"{reads.ledger} ledger + {reads.counters} counter", "unit": "items",
                        "note": f"{reads.requests} requests; quota {data['quota']:,}, rpm {data['rpm']}"})
    finally:
        clock.set_now(None)
    same = all(len(values) == 1 for values in per_window.values())
    out.append({"metric": "ledger items read by a user's stat (whole log, default window) equal at every scale",
                "value": "yes" if same else "NO", "target": "yes"})
    out.append({"metric": "ledger items read by a user's stat at most 1 + two hours' rows + the last minute's",
                "value": "yes" if bounded else "NO", "target": "yes"})
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
