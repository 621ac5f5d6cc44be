"""Listing cost: DynamoDB items read per page, per filter, counted with a botocore event hook (not timed).

Two scales run in one process under in-process moto (default: a user with 500 tasks in a table of
5,000, and a user with 1,500 in 15,000; BENCH_LISTING_SCALES="10000:100000" gives the issue's full
scale in ~10 minutes, moto writing ~400 items/s and scanning the table for every index query). Reads
per page must not grow with the table: the same filters at both scales read the same number of items.

For each filter: task items read on page 1, on a jump to the last page and to a middle page (no
cursor: walks the keys from the nearer end), on the page after it and back on the page before (rows
kept by the previous requests), three pages ahead (the keys in between), and on a second jump a few
pages back (from an anchor the first walk kept, when it passed one); plus how `total` was obtained
and what it read. Counters and cursors (counters table) are reported apart from task items. Tasks are
written with BatchWrite through PynamoDB (built by store.tasks.build_task), counters as the
transactions would set them.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.bench.bench_cost_model import item_size

PAGE_SIZE = 20
BASE_MS = 1_700_000_000_000  # 22:13:20 UTC
SPACING_MS = 800  # 100,000 tasks in 22.2 h: all of them submitted "today" for the dashboard's default window
LOCAL_MIDNIGHT_MS = 1_699_999_200_000  # 22:00 UTC: today 00:00 in UTC+2, the window's start
DEFAULT_SCALES = "500:5000,1500:15000"


@dataclass
class Reads:
    task_items: int = 0  # task items read (BatchGetItem of a page's keys, GetItem; a Query on the table itself)
    index_entries: int = 0  # listing-index entries a Query evaluated (keys and a few attributes: ScannedCount)
    read_units: float = 0.0  # estimated from the sizes returned (eventually consistent: 4 KB per half unit)
    count_items: int = 0  # rows a COUNT query (Select=COUNT, for total) evaluated
    aux_items: int = 0  # counters and cursors
    requests: int = 0
    writes: int = 0
    ops: list[str] = field(default_factory=list)


class ReadCounter:
    """botocore `after-call.dynamodb` hook on the shared session every table connection uses."""

    def __init__(self) -> None:
        self.reads = Reads()

    def reset(self) -> Reads:
        done, self.reads = self.reads, Reads()
        return done

    def __call__(self, http_response: Any = None, parsed: Any = None, model: Any = None, **kwargs: Any) -> None:
        operation = model.name if model is not None else "?"
        parsed = parsed or {}
        r = self.reads
        r.requests += 1
        r.ops.append(operation)
        tasks_table = os.environ.get("TASKS_TABLE", "")
        params = (kwargs.get("context") or {}).get("bench_params") or {}
        returned = [i for i in parsed.get("Items", []) or []]
        if operation == "BatchGetItem":
            returned = [i for items in (parsed.get("Responses") or {}).values() for i in items]
            r.read_units += sum(0.5 * math.ceil(max(1, item_size(i)) / 4096) for i in returned)
        elif operation in ("Query", "Scan"):
            r.read_units += 0.5 * math.ceil(max(1, sum(item_size(i) for i in returned)) / 4096)
        elif operation == "GetItem" and parsed.get("Item"):
            r.read_units += math.ceil(item_size(parsed["Item"]) / 4096)
        if operation in ("Query", "Scan"):
            scanned = int(parsed.get("ScannedCount", parsed.get("Count", 0)))
            if params.get("Select") == "COUNT":
                r.count_items += scanned
            elif params.get("TableName", tasks_table) == tasks_table:
                if params.get("IndexName"):
                    r.index_entries += scanned
                else:
                    r.task_items += scanned
            else:
                r.aux_items += scanned
        elif operation == "GetItem":
            n = 1 if parsed.get("Item") else 0
            if params.get("TableName") == tasks_table:
                r.task_items += n
            else:
                r.aux_items += n
        elif operation == "BatchGetItem":
            for table, items in (parsed.get("Responses") or {}).items():
                if table == tasks_table:
                    r.task_items += len(items)
                else:
                    r.aux_items += len(items)
        elif operation in ("PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"):
            r.writes += 1


def _remember_params(params: Any = None, context: Any = None, **kwargs: Any) -> None:
    if context is not None and isinstance(params, dict):
        context["bench_params"] = {"TableName": params.get("TableName"), "Select": params.get("Select"),
                                   "IndexName": params.get("IndexName")}


def _install(counter: ReadCounter) -> None:
    from taskcenter.store import db
    from taskcenter.store.models import ALL_MODELS
    from taskcenter.store.page_cursors import ListingTotal, PageCursor

    session = db.botocore_session()
    session.register("before-parameter-build.dynamodb", _remember_params)
    session.register("after-call.dynamodb", counter)
    for model in (*ALL_MODELS, PageCursor, ListingTotal):
        model._connection = None  # clients copy the session's hooks when they are created
    db._connection = None


class _seeder:
    """Writes items straight into in-process moto's table (what a BatchWriteItem stores, without the HTTP
    round trip per 25 items: 100,000 tasks in seconds instead of minutes). Seeding only: every measured
    request goes through botocore."""

    def __init__(self, model: Any) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self.table = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_REGION"]].get_table(model.Meta.table_name)

    def __enter__(self) -> _seeder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def save(self, item: Any) -> None:
        self.table.put_item(item.serialize())


def _populate(user_tasks: int, table_tasks: int, seed: int = 1) -> dict[str, Any]:
    from taskcenter.domain import listing_plan as listing
    from taskcenter.domain import states
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import Task

    rng = random.Random(seed)
    deltas: dict[str, int] = {}
    own: list[str] = []
    others: list[str] = []
    user_every = table_tasks // user_tasks
    with _seeder(Task) as batch:
        for i in range(1, table_tasks + 1):
            owner = 1 if i % user_every == 0 and len(own) < user_tasks else 2 + rng.randrange(49)
            platform = "suno" if rng.random() < 0.7 else "tikmatrix"
            action = rng.choice(("MUSIC", "LYRICS")) if platform == "suno" else rng.choice(("post", "follow"))
            status = rng.choices(states.ALL_STATUSES, weights=(2, 3, 3, 5, 12, 70, 5))[0]
            task = task_store.build_task(
                task_id=f"task_{i:07d}", numeric_id=i, kind="task", platform=platform, user_id=owner, action=action,
                status=status, channel_id=rng.choice((1, 2)) if platform == "suno" else 3, quota=50_000,
                submit_ms=BASE_MS + i * SPACING_MS, properties={"input": "bench"},
                serial=f"dev{rng.randrange(4)}" if platform == "tikmatrix" else "")
            batch.save(task)
            (own if owner == 1 else others).append(task.task_id)
            for name, value in listing.counter_deltas_for_create(task_store.listing_facts(task)).items():
                deltas[name] = deltas.get(name, 0) + value
    from tests.support import add_listing_counts

    add_listing_counts(deltas)
    return {"own": own, "other": others[0], "span_ms": table_tasks * SPACING_MS}


def _cases(data: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(label, list_tasks kwargs, measure deep pages too)."""
    from taskcenter.domain.listing_plan import ListingFilters

    span_ms = data["span_ms"]
    quarter = (BASE_MS + span_ms // 4, BASE_MS + 3 * span_ms // 4)
    u = {"kind": "task", "user_id": 1}
    g = {"kind": "task"}
    return [
        ("user: no filter", {"filters": ListingFilters(**u)}, True),
        ("user: platform", {"filters": ListingFilters(**u, platform="suno")}, False),
        ("user: action", {"filters": ListingFilters(**u, action="MUSIC")}, False),
        ("user: status", {"filters": ListingFilters(**u, status="SUCCESS")}, True),
        ("user: time range (middle half)", {"filters": ListingFilters(**u, start_ms=quarter[0], end_ms=quarter[1])},
         True),
        ("user: platform+status", {"filters": ListingFilters(**u, platform="suno", status="FAILURE")}, False),
        ("user: action+status+time", {"filters": ListingFilters(**u, action="LYRICS", status="SUCCESS",
                                                                start_ms=quarter[0], end_ms=quarter[1])}, False),
        ("user: platform+action (implied)", {"filters": ListingFilters(**u, platform="suno", action="MUSIC")}, False),
        ("user: task_id (own)", {"filters": ListingFilters(**u), "task_id": data["own"][7]}, False),
        ("user: task_id (another user's)", {"filters": ListingFilters(**u), "task_id": data["other"]}, False),
        ("admin: no filter", {"filters": ListingFilters(**g)}, True),
        ("admin: channel", {"filters": ListingFilters(**g, channel_id=2)}, False),
        ("admin: status", {"filters": ListingFilters(**g, status="FAILURE")}, False),
        ("admin: channel+action", {"filters": ListingFilters(**g, channel_id=2, action="MUSIC")}, True),
        ("admin: channel+action+status", {"filters": ListingFilters(**g, channel_id=2, action="MUSIC",
                                                                     status="SUCCESS")}, False),
        ("user: device+script (post filter, Task API v1)", {"filters": ListingFilters(**u, serial="dev1",
                                                                                        action="post")}, False),
        ("admin: platform+action mismatch", {"filters": ListingFilters(**g, platform="suno", action="post")}, False),
    ]


def _measure(counter: ReadCounter, call: Callable[[], Any]) -> tuple[Reads, Any, Any]:
    from taskcenter.services.core import listing_executor as listings

    counter.reset()
    result = call()
    return counter.reset(), result, listings.last_stats


def _fmt(r: Reads) -> str:
    """A request's reads: task items, listing-index entries (keys), estimated read units."""
    return f"{r.task_items}+{r.index_entries}k/{r.read_units:g}RU"


def run_scale(user_tasks: int, table_tasks: int) -> tuple[list[dict[str, Any]], list[tuple[str, int, int]]]:
    from taskcenter.services.core import listing_executor as listings

    from tests.support import create_tables

    create_tables()
    started = time.monotonic()
    data = _populate(user_tasks, table_tasks)
    written_s = time.monotonic() - started
    counter = ReadCounter()
    _install(counter)
    scale = f"{user_tasks:,}/{table_tasks:,}"
    # Walking half of a 100,000-row admin list under moto (which scans its table for every index query)
    # takes many minutes: BENCH_LISTING_DEEP_ADMIN=0 measures admin deep pages only at the small scales.
    deep_admin = os.environ.get("BENCH_LISTING_DEEP_ADMIN", "1") != "0"
    out: list[dict[str, Any]] = []
    comparable: list[tuple[str, int, int]] = []  # (label, p1 reads, next-page reads): must not depend on scale
    for label, kwargs, deep in _cases(data):
        reads, (items, total), stats = _measure(counter, lambda kw=kwargs: listings.list_tasks(
            kw["filters"], 1, PAGE_SIZE, task_id=kw.get("task_id")))
        total_cost = {"counters": f"counters ({stats.counter_items} items)",
                      "count": f"COUNT evaluated {reads.count_items} rows (kept for next pages)",
                      "buckets": f"counters and hour buckets ({stats.counter_items} items), COUNT of partial edge "
                                 f"hours {reads.count_items} rows",
                      "get": "the GetItem itself", "": "nothing (empty by the implied-filter check)"}
        figures = f"p1={_fmt(reads)}"
        next_reads = -1
        if deep and total > 3 * PAGE_SIZE and (label.startswith("user") or deep_admin):
            deep_page = max(2, (total // PAGE_SIZE) // 2)
            jump, _, jump_stats = _measure(counter, lambda kw=kwargs, p=deep_page: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))
            nxt, _, next_stats = _measure(counter, lambda kw=kwargs, p=deep_page + 1: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))
            next_reads = nxt.task_items - min(PAGE_SIZE, total - deep_page * PAGE_SIZE)
            prev, _, prev_stats = _measure(counter, lambda kw=kwargs, p=deep_page: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))  # back to the jumped-to page: read upwards from a kept row
            ahead, _, ahead_stats = _measure(counter, lambda kw=kwargs, p=deep_page + 3: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))
            last_page = (total + PAGE_SIZE - 1) // PAGE_SIZE
            tail, _, tail_stats = _measure(counter, lambda kw=kwargs, p=last_page: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))
            figures += f"; last p{last_page}={_fmt(tail)} ({tail_stats.seek})"
            figures += (f"; jump p{deep_page}={_fmt(jump)} ({jump_stats.seek})"
                        f"; p{deep_page + 1}={_fmt(nxt)} ({next_stats.seek}, total {next_stats.total_source},"
                        f" COUNT rows {nxt.count_items}); back p{deep_page}={_fmt(prev)} ({prev_stats.seek})"
                        f"; p{deep_page + 3}={_fmt(ahead)} ({ahead_stats.seek})")
            again_page = max(2, deep_page - 7)  # another jump, to a page no request has kept a cursor for
            again, _, again_stats = _measure(counter, lambda kw=kwargs, p=again_page: listings.list_tasks(
                kw["filters"], p, PAGE_SIZE))
            figures += f"; then jump p{again_page}={_fmt(again)} ({again_stats.seek})"
            if label == "user: status":
                # Churn: one task leaves the list (its status moves on); the rows kept before are no longer
                # trusted (the scope's change count moved), so the same page is reached by a walk.
                from taskcenter.store import tasks as task_store
                from taskcenter.store.models import Task

                leaving = next(t for t in Task.batch_get(data["own"][:200]) if t.status == "SUCCESS")
                task_store.transition(leaving, "IN_PROGRESS")
                churn, _, churn_stats = _measure(counter, lambda kw=kwargs, p=deep_page + 1: listings.list_tasks(
                    kw["filters"], p, PAGE_SIZE))
                figures += f"; after a task left the list, p{deep_page + 1}={_fmt(churn)} ({churn_stats.seek})"
            next_reads = max(next_reads, prev.task_items - PAGE_SIZE, tail.task_items - (total - (last_page - 1)
                                                                                      * PAGE_SIZE))
        # Reads beyond the rows shown: what must not depend on the table size.
        comparable.append((label, reads.task_items - len(items), next_reads))
        out.append({"metric": f"[{scale}] {label}", "value": figures, "unit": "task items read",
                    "target": f"<= {PAGE_SIZE + 2} (p1, next)",
                    "note": f"{len(items)} shown of {total}; total: {total_cost.get(stats.total_source)}; "
                            f"aux items {reads.aux_items}, requests {reads.requests}"})
    window_rows, window_comparable = _default_window(counter, data, scale, deep_admin)
    out += window_rows
    comparable += window_comparable
    out.append({"metric": f"[{scale}] setup", "value": f"{written_s:.0f}", "unit": "s to write",
                "note": f"{table_tasks:,} tasks seeded into moto's table + counters, in-process"})
    return out, comparable


def _default_window(counter: ReadCounter, data: dict[str, Any], scale: str, deep_admin: bool
                    ) -> tuple[list[dict[str, Any]], list[tuple[str, int, int]]]:
    """The dashboard's default window (today 00:00 local to now + 1 h, recomputed by every request; every
    task of the table submitted today): p1, next, previous, last and a far page, each request with its end
    one second later than the one before."""
    from taskcenter import clock
    from taskcenter.domain.listing_plan import ListingFilters
    from taskcenter.services.core import listing_executor as listings

    clock.set_now(BASE_MS + data["span_ms"] + 60_000)
    out: list[dict[str, Any]] = []
    comparable: list[tuple[str, int, int]] = []
    try:
        for label, scope in (("user", {"user_id": 1}), ("admin", {}), ("admin: channel", {"channel_id": 2})):
            def request(p: int, scope: dict[str, Any] = scope) -> tuple[Reads, Any, Any]:
                clock.set_now(clock.now_ms() + 1000)
                window = ListingFilters(kind="task", start_ms=LOCAL_MIDNIGHT_MS,
                                        end_ms=clock.now_ms() + 3_600_000 + 999, **scope)
                return _measure(counter, lambda: listings.list_tasks(window, p, PAGE_SIZE))

            first, (items, total), stats = request(1)
            last_page = (total + PAGE_SIZE - 1) // PAGE_SIZE
            steps = [("p1", first, stats)]
            for name, p in (("next p2", 2), ("p3", 3), ("previous p2", 2), (f"last p{last_page}", last_page)):
                reads, _, step_stats = request(p)
                steps.append((name, reads, step_stats))
            if label == "user" or deep_admin:
                far = max(4, last_page // 2)
                reads, _, step_stats = request(far)
                steps.append((f"far p{far} (first visit)", reads, step_stats))
            shown = {"p1": len(items)}
            beyond = max(r.task_items - PAGE_SIZE for n, r, _ in steps if not n.startswith("far"))
            keys_beyond = max(r.index_entries - PAGE_SIZE for n, r, _ in steps if not n.startswith("far"))
            figures = "; ".join(f"{n}={_fmt(r)} ({st.seek}, counters {st.counter_items}, COUNT rows "
                                f"{r.count_items})" for n, r, st in steps)
            comparable.append((f"default window, {label}", first.task_items - shown["p1"], beyond))
            out.append({"metric": f"[{scale}] default window (today 00:00 to now + 1 h), {label}",
                        "value": figures, "unit": "task items read", "target": f"<= {PAGE_SIZE + 2} (p1, next, "
                        "previous, last)", "note": f"{total:,} tasks in the window; total: {stats.total_source}; index "
                        f"entries beyond the page (p1, next, previous, last): at most {keys_beyond}"})
    finally:
        clock.set_now(None)
    return out, comparable


def rows() -> list[dict[str, Any]]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    for var in ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL"):
        os.environ.pop(var, None)
    from moto import mock_aws  # before any botocore session exists: moto hooks sessions created after import

    scales = [tuple(int(x) for x in part.split(":")) for part in
              os.environ.get("BENCH_LISTING_SCALES", DEFAULT_SCALES).split(",") if part.strip()]
    out: list[dict[str, Any]] = []
    per_scale: list[list[tuple[str, int, int]]] = []
    for user_tasks, table_tasks in scales:
        with mock_aws():
            scale_rows, comparable = run_scale(user_tasks, table_tasks)
        out += scale_rows
        per_scale.append(comparable)
    worst = max((max(p1, nxt) for figures in per_scale for label, p1, nxt in figures
                 if "post filter" not in label), default=0)
    out.append({"metric": "max task items read beyond the page's rows (p1, next, previous and last page), any filter"
                          " but a post filter",
                "value": worst, "unit": "items", "target": "<= 2"})
    if len(per_scale) > 1:
        differ = [a[0] for a, b in zip(per_scale[0], per_scale[-1], strict=True)
                  if a[1:] != b[1:] and "post filter" not in a[0]]
        out.append({"metric": "reads per page independent of table size", "value": "NO" if differ else "yes",
                    "note": f"reads beyond the rows shown identical at {scales[0]} and {scales[-1]} (post filter:"
                    " depends on the share of matching rows, not on size)" if not differ
                    else f"differ: {', '.join(differ)}"})
    return out


if __name__ == "__main__":  # python -m tests.bench.bench_listing
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path[:0] = [str(root), str(root / "layers")]
    for row in rows():
        print(row)
