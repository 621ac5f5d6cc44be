"""Admin maintenance tools: the one production module allowed to Scan (an operator runs them offline, never a
request path or a scheduled job; tests/infra/test_no_scan.py keeps every other module free of Scan).

- `backfill_final_keys`: the listing-index migration's backfill (docs/deploy.md, "Migrating the listing
  indexes").
- `recount_days_before`: the usage log's hour buckets for entries written before they existed
  (docs/usage-log.md, "Deploying").
- `merge_listing_counters`: listing counters written one item per scope and status, before one item per
  scope held every status (docs/deploy.md, "One counter item per scope").

Tasks written before the terminal-status indexes existed have no `lf` key, so those indexes would not list
them. This writes `lf` on every finished task that lacks it (a parallel Scan of the tasks table: an
operator's migration tool, never a request path), each with one UpdateItem conditioned on the status it
read, so a task that moved meanwhile is left to the code that moved it. Repeatable: a second run finds
nothing to do.

    TASKS_TABLE=<the stack's tasks table> AWS_REGION=<region> python -m taskcenter.store.maintenance 8
    COUNTERS_TABLE=<the stack's counters table> python -m taskcenter.store.maintenance merge-counters
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from taskcenter.domain import listing_plan as listing
from taskcenter.domain.listing_indexes import final_key
from taskcenter.domain.states import TERMINAL
from taskcenter.store import counters
from taskcenter.store.db import aws_client, conditional_update
from taskcenter.store.models import Counter, LedgerEntry, Task
from taskcenter.store.stream_marks import MARK_PREFIX
from taskcenter.store.usage_log_counts import DAY_MS, HOURS_PER_DAY, LETTERS, LogDayCounts, deltas


def backfill_final_keys(segment: int = 0, total_segments: int = 1) -> int:
    """Set `lf` on the finished tasks of one Scan segment that lack it; returns how many were written."""
    written = 0
    condition = Task.status.is_in(*sorted(TERMINAL)) & Task.lf.does_not_exist() & Task.lt.exists()
    # a Scan: allowed here only, an admin maintenance tool (module doc)
    for task in Task.scan(condition, segment=segment, total_segments=total_segments,
                          attributes_to_get=["task_id", "status", "submit_ms", "id"]):
        key = final_key(task.status, listing.time_key(int(task.submit_ms), int(task.id)))
        # a task that moved (or was just backfilled) is left: the writer of that move set its keys
        if conditional_update(task, [Task.lf.set(key)], (Task.status == task.status) & Task.lf.does_not_exist()):
            written += 1
    return written


def recount_days_before(day: int) -> int:
    """Set every day item of the UTC days before `day` (days since the epoch) to the ledger's own count of
    their entries and sum of their charges (docs/usage-log.md, "Deploying"): for the entries written before
    the buckets existed.
    Offline: a Scan of the ledger (see the module doc). Exact and idempotent, whoever wrote the entries,
    as long as no entry is written into those days meanwhile: run it for days that have ended (entries are
    written at the writer's now). Returns the number of items set."""
    # a Scan: allowed here only, an admin maintenance tool (module doc)
    counted = deltas(LedgerEntry.scan(filter_condition=LedgerEntry.at_ms < day * DAY_MS))
    every = [f"{letter}{h:02d}" for letter in LETTERS for h in range(HOURS_PER_DAY)]
    for name, attrs in sorted(counted.items()):
        LogDayCounts(name=name).update(actions=[getattr(LogDayCounts, a).set(attrs.get(a, 0)) for a in every])
    return len(counted)


def _old_listing_counters() -> Iterator[dict[str, Any]]:
    # a Scan: allowed here only, an admin maintenance tool (module doc); raw items, for their shard marks
    for page in aws_client("dynamodb").get_paginator("scan").paginate(
            TableName=Counter.Meta.table_name, ConsistentRead=True,
            FilterExpression="begins_with(#n, :p)", ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":p": {"S": listing.LISTING_PREFIX}}):
        for item in page.get("Items", []):
            if listing.counter_location(item["name"]["S"])[1] is not None:
                yield item


def merge_listing_counters() -> int:
    """Move every listing counter kept in an item of its own (`n#<scope>#<STATUS>`) into its scope's item
    (`ns#<scope>`, store/counters.py), each in one transaction: ADD its value and changes there, delete it.
    Run with the tasks stream's event source mapping disabled and the consumer caught up (docs/deploy.md):
    the scope item then starts from the highest shard mark of its old items, and no record is counted
    twice. Repeatable: a moved counter is gone, a second run finds nothing. Returns how many were moved."""
    old = list(_old_listing_counters())
    marks: dict[str, dict[str, str]] = {}  # scope item -> shard mark -> the highest sequence applied
    for item in old:
        scope_item = listing.counter_location(item["name"]["S"])[0]
        for attr, value in item.items():
            if attr.startswith(MARK_PREFIX):
                known = marks.setdefault(scope_item, {})
                known[attr] = max(known.get(attr, ""), value["S"])
    client = aws_client("dynamodb")
    for item in old:
        name = item["name"]["S"]
        scope_item, status = listing.counter_location(name)
        names = {"#v": counters.value_attribute(status), "#c": counters.changes_attribute(status), "#n": "name"}
        values = {":v": item.get("value", {"N": "0"}), ":c": item.get("changes", {"N": "0"})}
        sets = []
        for i, (attr, sequence) in enumerate(sorted(marks.get(scope_item, {}).items())):
            names[f"#h{i}"], values[f":h{i}"] = attr, {"S": sequence}
            sets.append(f"#h{i} = if_not_exists(#h{i}, :h{i})")  # never lowers a mark a rerun finds
        update = "ADD #v :v, #c :c" + (" SET " + ", ".join(sets) if sets else "")
        table = Counter.Meta.table_name
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"name": {"S": scope_item}}, "UpdateExpression": update,
                        "ExpressionAttributeNames": {k: v for k, v in names.items() if k != "#n"},
                        "ExpressionAttributeValues": values}},
            {"Delete": {"TableName": table, "Key": {"name": {"S": name}}, "ConditionExpression": "attribute_exists(#n)",
                        "ExpressionAttributeNames": {"#n": "name"}}}])
    return len(old)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["merge-counters"]:
        print(f"{merge_listing_counters()} listing counters merged into their scope items", file=sys.stderr)
        return 0
    segments = int((args or ["1"])[0])
    total = sum(backfill_final_keys(s, segments) for s in range(segments))
    print(f"lf written on {total} finished tasks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
