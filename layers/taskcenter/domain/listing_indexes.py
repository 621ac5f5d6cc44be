"""The listing GSIs of the tasks table: names, keys, projections (docs/listing.md, "Indexes and what they cost").

Every index projects keys only, plus the few attributes a post filter, the implied-platform probe or a
Task API v1 scan reads (`include`): a page's items come from one BatchGetItem of the keys the index page
gave. An index entry is then far under 1 KB (1 write unit) and an update that changes none of its keys or
included attributes does not write it at all.

Range keys:
- `lt` = <submit_ms>#<id>: never changes, so the time-sorted indexes are written once per task (a failover
  re-keys the two channel scopes);
- `ls` = <STATUS>#<lt>: changes at every status move (a delete and a put, 2 write units per index): only the
  scopes whose open statuses must be a key condition have it (user, user+platform, user+device, admin);
- `lf` = <STATUS>#<lt>, set only while the status is terminal (SUCCESS, FAILURE): written once when the task
  finishes. The other scopes list a terminal status from it; an open status (NOT_START ... IN_PROGRESS) from
  the `ls` index of the scope above them (`OPEN_STATUS_PARENT`), filtered on their own scope key: those rows
  are the open tasks of the wider scope, a number bounded by the tasks in flight, not by the table.

DynamoDB cannot change an index's projection in place: these names are new (the ALL-projection indexes
they replace are in `PREVIOUS_INDEX_NAMES`, for the staged migration of docs/deploy.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from taskcenter.domain.states import TERMINAL


@dataclass(frozen=True)
class ListingIndex:
    attr: str  # the index's attribute on the Task model (kept from the ALL-projection design)
    name: str  # the DynamoDB index name
    hash_attr: str
    range_attr: str  # lt | ls | lf
    include: tuple[str, ...] = ()  # NonKeyAttributes


_ADMIN_POST = ("serial",)  # an admin listing's device filter (listing_plan._global_scope)
_PROBE = ("platform",)  # the implied-platform probe of a scope (listing_executor._resolve_implied_filters)
_DEVICE_POST = ("action", "platform")  # Task API v1's device + script (listing_plan._user_scope)
# What the Task API v1 reads from its status scans (store/v1_records.oldest_with_status: admission and
# retry-all): written only by status moves, which rewrite these `ls` entries anyway.
_V1_SCAN = ("account", "attempt", "finish_ms", "platform", "retry_count", "serial", "status")


def _both(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({a for g in groups for a in g}))


TIME_INDEXES: dict[str, ListingIndex] = {
    "lu": ListingIndex("user_time", "user_time_v2", "lu", "lt"),
    "lup": ListingIndex("user_platform_time", "user_platform_time_v2", "lup", "lt"),
    "lua": ListingIndex("user_action_time", "user_action_time_v2", "lua", "lt", _PROBE),
    "lud": ListingIndex("user_device_time", "user_device_time_v2", "lud", "lt", _DEVICE_POST),
    "lg": ListingIndex("all_time", "all_time_v2", "lg", "lt", _ADMIN_POST),
    "lgp": ListingIndex("all_platform_time", "all_platform_time_v2", "lgp", "lt", _ADMIN_POST),
    "lga": ListingIndex("all_action_time", "all_action_time_v2", "lga", "lt", _both(_ADMIN_POST, _PROBE)),
    "lgc": ListingIndex("all_channel_time", "all_channel_time_v2", "lgc", "lt", _both(_ADMIN_POST, _PROBE)),
    "lgca": ListingIndex("all_channel_action_time", "all_channel_action_time_v2", "lgca", "lt",
                         _both(_ADMIN_POST, _PROBE)),
}

# The scope above a terminal-only (`lf`) scope whose `ls` index lists its open statuses.
OPEN_STATUS_PARENT = {"lua": "lu", "lgp": "lg", "lga": "lg", "lgc": "lg", "lgca": "lg"}

STATUS_INDEXES: dict[str, ListingIndex] = {
    "lu": ListingIndex("user_status", "user_status_v2", "lu", "ls", ("lua",)),
    "lup": ListingIndex("user_platform_status", "user_platform_status_v2", "lup", "ls", _V1_SCAN),
    "lud": ListingIndex("user_device_status", "user_device_status_v2", "lud", "ls", _both(_DEVICE_POST, _V1_SCAN)),
    "lg": ListingIndex("all_status", "all_status_v2", "lg", "ls",
                       _both(_ADMIN_POST, ("lgp", "lga", "lgc", "lgca"))),
    "lua": ListingIndex("user_action_final", "user_action_final", "lua", "lf"),
    "lgp": ListingIndex("all_platform_final", "all_platform_final", "lgp", "lf", _ADMIN_POST),
    "lga": ListingIndex("all_action_final", "all_action_final", "lga", "lf", _ADMIN_POST),
    "lgc": ListingIndex("all_channel_final", "all_channel_final", "lgc", "lf", _ADMIN_POST),
    "lgca": ListingIndex("all_channel_action_final", "all_channel_action_final", "lgca", "lf", _ADMIN_POST),
}

LISTING_INDEXES: tuple[ListingIndex, ...] = (*TIME_INDEXES.values(), *STATUS_INDEXES.values())

# The ALL-projection listing indexes of the design before (issue 17): dropped by the migration.
PREVIOUS_INDEX_NAMES: tuple[str, ...] = tuple(
    name for scope_names in (
        ("user_time", "user_status"), ("user_platform_time", "user_platform_status"),
        ("user_action_time", "user_action_status"), ("user_device_time", "user_device_status"),
        ("all_time", "all_status"), ("all_platform_time", "all_platform_status"),
        ("all_action_time", "all_action_status"), ("all_channel_time", "all_channel_status"),
        ("all_channel_action_time", "all_channel_action_status"),
    ) for name in scope_names)


def final_key(status: str, time_key: str) -> str | None:
    """The `lf` range key: set only while the status is terminal (None: the attribute is absent)."""
    return f"{status}#{time_key}" if status in TERMINAL else None
