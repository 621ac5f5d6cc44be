"""The listing executor's reads of the tasks table (services/core/listing_executor.py, docs/listing.md):
one Query per call on the GSI a `ListingPlan` names, with the plan's key condition and post filters.

Kept here so the executor (services) builds no PynamoDB condition and calls no model itself.
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain.listing_plan import SCOPE_INDEXES, ListingPlan
from taskcenter.store.models import Task

Key = dict[str, dict[str, str]]  # a raw ExclusiveStartKey: the GSI's keys and the table's


def _index(plan: ListingPlan) -> Any:
    return getattr(Task, plan.index_name)


def _range_condition(plan: ListingPlan) -> Any:
    attr = getattr(Task, plan.range_attr)
    if plan.range_prefix is not None:
        return attr.startswith(plan.range_prefix)
    if plan.range_low is not None and plan.range_high is not None:
        return attr.between(plan.range_low, plan.range_high)
    if plan.range_low is not None:
        return attr >= plan.range_low
    if plan.range_high is not None:
        return attr <= plan.range_high
    return None


def _filter_condition(plan: ListingPlan) -> Any:
    condition = None
    for name, value in sorted(plan.post_filters.items()):
        term = getattr(Task, name) == value
        condition = term if condition is None else condition & term
    return condition


def key_names(plan: ListingPlan) -> list[str]:
    return ["task_id", plan.hash_attr, plan.range_attr]


def key_of(plan: ListingPlan, task: Task) -> Key:
    """The index key of `task` in the plan's GSI (where a Query resumes after it)."""
    return {name: {"S": str(getattr(task, name))} for name in key_names(plan)}


def probe(plan: ListingPlan) -> Task | None:
    """One row of the scope (its id and platform), or None when the scope is empty."""
    rows = list(_index(plan).query(plan.hash_value, limit=1, page_size=1, attributes_to_get=["task_id", "platform"]))
    return rows[0] if rows else None


def count(plan: ListingPlan) -> int:
    """The rows the plan lists (Select=COUNT: no item returned, every matching row read)."""
    return int(Task.count(plan.hash_value, range_key_condition=_range_condition(plan),
                          filter_condition=_filter_condition(plan), index_name=plan.index_name))


def count_submitted(plan: ListingPlan, low_ms: int, high_ms: int) -> int:
    """The rows of the plan's scope submitted in [low_ms, high_ms] (its time-sorted GSI)."""
    index = getattr(Task, SCOPE_INDEXES[plan.hash_attr][0])
    return int(index.count(plan.hash_value, Task.lt.between(f"{low_ms:013d}", f"{high_ms:013d}#~")))


def read_rows(plan: ListingPlan, start: Key | None, limit: int, *, newest_first: bool = True
              ) -> tuple[list[Task], int]:
    """Up to `limit` rows after `start` (None: from the newest, or the oldest end), and how many index
    entries the Query evaluated (a post filter's rejects included)."""
    result = _index(plan).query(plan.hash_value, range_key_condition=_range_condition(plan),
                                filter_condition=_filter_condition(plan), scan_index_forward=not newest_first,
                                last_evaluated_key=start, limit=limit, page_size=limit)
    rows = list(result)
    return rows, int(result.page_iter.total_scanned_count)


def read_keys(plan: ListingPlan, start: Key | None, limit: int, *, newest_first: bool) -> list[Task]:
    """Up to `limit` rows after `start`, their index keys only (a walk to a deep offset)."""
    return list(_index(plan).query(plan.hash_value, range_key_condition=_range_condition(plan),
                                   filter_condition=_filter_condition(plan), scan_index_forward=not newest_first,
                                   last_evaluated_key=start, limit=limit, page_size=limit,
                                   attributes_to_get=key_names(plan)))
