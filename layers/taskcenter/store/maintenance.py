"""Admin maintenance tools: the one production module allowed to Scan (an operator runs them offline, never a
request path or a scheduled job; tests/infra/test_no_scan.py keeps every other module free of Scan).

- `backfill_final_keys`: the listing-index migration's backfill (docs/deploy.md, "Migrating the listing
  indexes").
- `recount_days_before`: the usage log's hour buckets for entries written before they existed
  (docs/usage-log.md, "Deploying").

Tasks written before the terminal-status indexes existed have no `lf` key, so those indexes would not list
them. This writes `lf` on every finished task that lacks it (a parallel Scan of the tasks table: an
operator's migration tool, never a request path), each with one UpdateItem conditioned on the status it
read, so a task that moved meanwhile is left to the code that moved it. Repeatable: a second run finds
nothing to do.

    TASKS_TABLE=<the stack's tasks table> AWS_REGION=<region> python -m taskcenter.store.maintenance 8
"""

from __future__ import annotations

import sys

from taskcenter.domain import listing_plan as listing
from taskcenter.domain.listing_indexes import final_key
from taskcenter.domain.states import TERMINAL
from taskcenter.store.db import conditional_update
from taskcenter.store.models import LedgerEntry, Task
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


def main(argv: list[str] | None = None) -> int:
    segments = int((argv or sys.argv[1:] or ["1"])[0])
    total = sum(backfill_final_keys(s, segments) for s in range(segments))
    print(f"lf written on {total} finished tasks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
