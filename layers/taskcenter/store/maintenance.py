"""Admin maintenance tools: the one production module allowed to Scan (an operator runs them offline, never a
request path or a scheduled job; tests/infra/test_no_scan.py keeps every other module free of Scan).

- `backfill_final_keys`: the listing-index migration's backfill (docs/deploy.md, "Migrating the listing
  indexes").
- `recount_days_before`: the usage log's hour buckets for entries written before they existed
  (docs/usage-log.md, "Deploying").
- `merge_listing_counters`: listing counters written one item per scope and status, before one item per
  scope held every status, or a user's platform scope in an item of its own, before the user scope's item
  held it (docs/deploy.md, "One counter item per scope", "A user's platforms in the user's counter item").

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


def _listing_counter_items() -> Iterator[dict[str, Any]]:
    # a Scan: allowed here only, an admin maintenance tool (module doc); raw items, for their shard marks and
    # the fields no model declares
    for page in aws_client("dynamodb").get_paginator("scan").paginate(
            TableName=Counter.Meta.table_name, ConsistentRead=True,
            FilterExpression="begins_with(#n, :p) OR begins_with(#n, :s)", ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":p": {"S": listing.LISTING_PREFIX}, ":s": {"S": listing.SCOPE_ITEM_PREFIX}}):
        yield from page.get("Items", [])


def _relocation(item: dict[str, Any]) -> tuple[str, dict[str, int]] | None:
    """(home item, {attribute there: delta}) of an item whose counters are kept elsewhere now, or None."""
    name = item["name"]["S"]
    numbers = {attr: int(value["N"]) for attr, value in item.items() if "N" in value}

    def by_field(letter: str, own: str) -> dict[str | None, int]:
        return {None if attr == own else attr[2:]: n for attr, n in numbers.items()
                if attr == own or attr.startswith(f"{letter}_")}

    moves: dict[str, int] = {}
    homes = set()
    for kind, attribute in (("value", counters.value_attribute), ("changes", counters.changes_attribute)):
        for counter, n in listing.counters_in_item(name, by_field(kind[0], kind)).items():
            home, field = listing.counter_location(counter)
            homes.add(home)
            moves[attribute(field)] = moves.get(attribute(field), 0) + n
    if not moves or homes == {name}:
        return None
    home, = homes  # an item holds one scope's counters, so they have one home
    return home, moves


def merge_listing_counters() -> int:
    """Move every listing counter item whose counters are kept elsewhere now into their home
    (domain/listing_plan.counter_location), each in one transaction: ADD its values and changes there, delete
    it. Two layouts are moved: one item per scope and status (`n#<scope>#<STATUS>`, before one item per scope
    held every status), and a user's platform scope's own item (`ns#u#<uid>#<kind>#p#<platform>`, before the
    user scope's item held it, as fields `p#<platform>#<STATUS>`).
    Run with the tasks stream's event source mapping disabled and the consumer caught up (docs/deploy.md):
    every home item then carries the highest shard mark of the items moved into it and its own, and no record
    is counted twice. Repeatable: a moved item is gone, a second run finds nothing. Returns how many were
    moved."""
    items = list(_listing_counter_items())
    moving = {item["name"]["S"]: where for item in items if (where := _relocation(item)) is not None}
    marks: dict[str, dict[str, str]] = {}  # home item -> shard mark -> the highest sequence applied
    homes = {home for home, _ in moving.values()}
    for item in items:
        name = item["name"]["S"]
        home = moving[name][0] if name in moving else name
        if home not in homes:
            continue
        for attr, value in item.items():
            if attr.startswith(MARK_PREFIX):
                known = marks.setdefault(home, {})
                known[attr] = max(known.get(attr, ""), value["S"])
    client = aws_client("dynamodb")
    table = Counter.Meta.table_name
    for name, (home, moves) in sorted(moving.items()):
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for i, (attr, n) in enumerate(sorted(moves.items())):
            names[f"#a{i}"], values[f":a{i}"] = attr, {"N": str(n)}
            adds.append(f"#a{i} :a{i}")
        sets = []
        for i, (attr, sequence) in enumerate(sorted(marks.get(home, {}).items())):
            names[f"#h{i}"], values[f":h{i}"] = attr, {"S": sequence}
            sets.append(f"#h{i} = :h{i}")  # the highest of every item moved in and the home's own
        update = "ADD " + ", ".join(adds) + (" SET " + ", ".join(sets) if sets else "")
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"name": {"S": home}}, "UpdateExpression": update,
                        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}},
            {"Delete": {"TableName": table, "Key": {"name": {"S": name}}, "ConditionExpression": "attribute_exists(#n)",
                        "ExpressionAttributeNames": {"#n": "name"}}}])
    return len(moving)


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
