"""The listing executor's reads of the tasks table (services/core/listing_executor.py, docs/listing.md):
one Query per call on the GSI a `ListingPlan` names, with the plan's key condition and post filters, and
for a page the items themselves: the listing indexes project keys (and a few filter attributes) only, so a
page is its index keys, then one BatchGetItem of those items, in the index's order.

Kept here so the executor (services) builds no PynamoDB condition and calls no model itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.exceptions import PynamoDBException

from taskcenter.domain.errors import Unavailable
from taskcenter.domain.listing_plan import SCOPE_INDEXES, ListingPlan
from taskcenter.store.db import index_not_ready
from taskcenter.store.models import Task

F = TypeVar("F", bound=Callable[..., Any])


def _index_built(read: F) -> F:
    """While the staged index migration has not built an index yet (docs/deploy.md), a listing that needs it
    answers 503 in its surface's envelope, not a 500 (`db.index_not_ready`)."""

    @functools.wraps(read)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except (ValueError, PynamoDBException) as error:
            if not index_not_ready(error):
                raise
            if isinstance(error, ValueError):
                Task._connection = None  # the cached table description predates the index: describe it again
            raise Unavailable("this listing's index is being built; retry in a few minutes") from error

    return guarded  # type: ignore[return-value]

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
    for name, value in sorted({**plan.post_filters, **plan.index_filter}.items()):
        term = getattr(Task, name) == value
        condition = term if condition is None else condition & term
    return condition


def key_names(plan: ListingPlan) -> list[str]:
    return ["task_id", plan.query_hash_attr, plan.range_attr]


def key_of(plan: ListingPlan, task: Task) -> Key:
    """The index key of `task` in the plan's GSI (where a Query resumes after it)."""
    return {name: {"S": str(getattr(task, name))} for name in key_names(plan)}


@_index_built
def probe(plan: ListingPlan) -> Task | None:
    """One row of the scope (its id and platform, from the scope's time index), or None when it is empty."""
    index = getattr(Task, SCOPE_INDEXES[plan.hash_attr][0])
    rows = list(index.query(plan.hash_value, limit=1, page_size=1, attributes_to_get=["task_id", "platform"]))
    return rows[0] if rows else None


@_index_built
def count(plan: ListingPlan) -> int:
    """The rows the plan lists (Select=COUNT: no item returned, every matching row read)."""
    return int(_index(plan).count(plan.query_hash_value, range_key_condition=_range_condition(plan),
                                  filter_condition=_filter_condition(plan)))


@_index_built
def count_submitted(plan: ListingPlan, low_ms: int, high_ms: int) -> int:
    """The rows of the plan's scope submitted in [low_ms, high_ms] (its time-sorted GSI)."""
    index = getattr(Task, SCOPE_INDEXES[plan.hash_attr][0])
    return int(index.count(plan.hash_value, Task.lt.between(f"{low_ms:013d}", f"{high_ms:013d}#~")))


@dataclass(frozen=True)
class Page:
    """Rows read from the index for one page: their items (fetched), their index keys, in the index's order."""

    items: list[Task]
    keys: list[Key]  # every index row's key, an item deleted since its index row was read included
    scanned: int  # index entries the Query evaluated (a post filter's rejects included)


@_index_built
def read_rows(plan: ListingPlan, start: Key | None, limit: int, *, newest_first: bool = True) -> Page:
    """Up to `limit` rows after `start` (None: from the newest, or the oldest end): their keys from the index,
    then their items in one BatchGetItem."""
    result = _index(plan).query(plan.query_hash_value, range_key_condition=_range_condition(plan),
                                filter_condition=_filter_condition(plan), scan_index_forward=not newest_first,
                                last_evaluated_key=start, limit=limit, page_size=limit,
                                attributes_to_get=key_names(plan))
    rows = list(result)
    return Page(items_of(rows), [key_of(plan, row) for row in rows], int(result.page_iter.total_scanned_count))


def items_of(rows: list[Task]) -> list[Task]:
    """The full items of index rows, in the rows' order: one BatchGetItem (PynamoDB's `batch_get`, which
    sends up to 100 keys a request and resends the keys DynamoDB left unprocessed). Eventually consistent,
    as the index itself is; a task deleted since its index row was read is left out."""
    if not rows:
        return []
    found = {item.task_id: item for item in Task.batch_get([row.task_id for row in rows], consistent_read=False)}
    return [found[row.task_id] for row in rows if row.task_id in found]


@_index_built
def read_keys(plan: ListingPlan, start: Key | None, limit: int, *, newest_first: bool) -> list[Task]:
    """Up to `limit` rows after `start`, their index keys only (a walk to a deep offset)."""
    return list(_index(plan).query(plan.query_hash_value, range_key_condition=_range_condition(plan),
                                   filter_condition=_filter_condition(plan), scan_index_forward=not newest_first,
                                   last_evaluated_key=start, limit=limit, page_size=limit,
                                   attributes_to_get=key_names(plan)))
