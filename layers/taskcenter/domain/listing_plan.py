"""Listing index design (docs/listing.md): which index serves which query, and which counters give `total`.

Every listable task carries composite GSI keys. A listing is one Query on one GSI with
`Limit = page_size` (keys and a few attributes only: the page's items are one BatchGetItem), so a page
reads about as many items as it returns whatever the table size. The indexes themselves (names, range keys,
projections, what each costs per task) are `taskcenter.domain.listing_indexes`.

Hash keys (scope):

    attribute  value                         serves
    lu         u#<uid>#<kind>                user listing, no dimension filter
    lup        u#<uid>#<kind>#p#<platform>   user + platform
    lua        u#<uid>#<kind>#a#<action>     user + action (action implies platform)
    lud        u#<uid>#<kind>#d#<serial>     user + device serial (Task API v1)
    lg         g#<kind>                      admin, all tasks
    lgp        g#<kind>#p#<platform>         admin + platform
    lga        g#<kind>#a#<action>           admin + action
    lgc        g#<kind>#c#<channel>          admin + channel (channel implies platform)
    lgca       g#<kind>#c#<channel>#a#<act>  admin + channel + action

`kind` is the listing family: "task" (Suno, device scripts: /api/task, /api/v1/task) or
"mj" (/api/mj). Range keys: `lt` = <submit_ms:013d>#<id:012d>; `ls` = <STATUS>#<lt>; `lf` = <STATUS>#<lt>
while the status is terminal. Every scope has a time-sorted index; lu, lup, lud and lg a status-sorted one
(`ls`), the others a terminal-status one (`lf`): their open statuses are read from the `ls` index of the
scope above, filtered on their own key (docs/listing.md lists those combinations and their cost).

The one combination not covered by a scope (Task API v1's serial + script_name) uses the device scope with
a post-filter on the action; the benchmark reports its reads. The tasks table holds 20 GSIs, DynamoDB's
default quota per table: the 18 listing indexes, the poll index (`poll_due_v2`) and `due`.

`total` comes from counters (counters table), moved by the tasks table's stream consumer from each
record's old and new images (store/counter_stream.py; the deltas below are the one rule): one counter per
scope for ALL and one per scope and status. Admin scopes are read over ADMIN_COUNTER_SHARDS items (once
spread so concurrent transactions rarely touched the same item; the consumer writes shard 0).
With a time range, counters cannot answer, and `total` is a COUNT query on the same key range
(no items returned; see docs/listing.md for its cost).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from taskcenter.domain.errors import BadInput
from taskcenter.domain.listing_indexes import OPEN_STATUS_PARENT, STATUS_INDEXES, TIME_INDEXES, final_key
from taskcenter.domain.states import ALL_STATUSES, MJ_STATUSES, TERMINAL
from taskcenter.domain.window_buckets import (  # noqa: F401 (re-exported: the listing's bucket rule)
    BUCKET_MS,
    MAX_BUCKET_ITEMS,
    WindowBuckets,
    bucket_of,
    window_buckets,
)

ADMIN_COUNTER_SHARDS = 4

# scope attribute -> (time-sorted index, status index: `ls`, or `lf` for terminal statuses only), by their
# attribute on the Task model
SCOPE_INDEXES: dict[str, tuple[str, str]] = {
    scope: (TIME_INDEXES[scope].attr, STATUS_INDEXES[scope].attr) for scope in TIME_INDEXES
}
ADMIN_SCOPES = frozenset({"lg", "lgp", "lga", "lgc", "lgca"})
# Scopes whose keys follow the task's channel (a failover moves the task between their partitions).
CHANNEL_SCOPES = ("lgc", "lgca")


def time_key(submit_ms: int, numeric_id: int) -> str:
    return f"{submit_ms:013d}#{numeric_id:012d}"


def status_key(status: str, submit_ms: int, numeric_id: int) -> str:
    return f"{status}#{time_key(submit_ms, numeric_id)}"


@dataclass(frozen=True)
class ListingFacts:
    """What a task contributes to listings."""

    kind: str
    user_id: int
    platform: str
    action: str
    status: str
    channel_id: int
    submit_ms: int
    numeric_id: int
    serial: str = ""
    # a relay submit's task while its client waits: in the time-sorted listings and ALL counts only, so the
    # move that records the upstream's acceptance adds its status key (1 write unit per status index) instead
    # of re-keying it (2), and a refused submit, withdrawn, never touched a status index
    held: bool = False


def scope_values(f: ListingFacts) -> dict[str, str]:
    """The GSI hash-key attributes for a task (sparse: lud only where a serial exists)."""
    u = f"u#{f.user_id}#{f.kind}"
    g = f"g#{f.kind}"
    values = {
        "lu": u,
        "lup": f"{u}#p#{f.platform}",
        "lua": f"{u}#a#{f.action}",
        "lg": g,
        "lgp": f"{g}#p#{f.platform}",
        "lga": f"{g}#a#{f.action}",
    }
    if f.channel_id:
        # sparse until a channel is chosen: channel 0 is never listed (new-api: channel_id=0 means no filter),
        # so choosing the channel puts the task in its channel scopes instead of re-keying it there
        values["lgc"] = f"{g}#c#{f.channel_id}"
        values["lgca"] = f"{g}#c#{f.channel_id}#a#{f.action}"
    if f.serial:
        values["lud"] = f"{u}#d#{f.serial}"
    return values


def index_attributes(f: ListingFacts) -> dict[str, str]:
    attrs = scope_values(f)
    attrs["lt"] = time_key(f.submit_ms, f.numeric_id)
    if not f.held:
        attrs["ls"] = status_key(f.status, f.submit_ms, f.numeric_id)
    final = final_key(f.status, attrs["lt"])
    if final is not None:
        attrs["lf"] = final
    return attrs


# Shards a move writes. The counters follow the tasks stream (store/counter_stream.py): one consumer per stream
# shard, batched UpdateItems and no transaction contending on a counter item, so moves go to shard 0; reads
# still sum ADMIN_COUNTER_SHARDS items (counters written when every transaction moved them, spread by id).
ADMIN_WRITE_SHARDS = 1


def admin_shard(numeric_id: int) -> int:
    """The shard of the admin-scope counters a task moves (by id: a task always hits the same shard)."""
    return numeric_id % ADMIN_WRITE_SHARDS


def counter_name(scope_attr: str, scope_value: str, status: str, numeric_id: int) -> str:
    """Counter item name. Admin scopes are sharded by task id so a task always hits the same shard."""
    if scope_attr in ADMIN_SCOPES:
        shard = admin_shard(numeric_id)
        return f"n#{scope_value}#{status}#s{shard}"
    return f"n#{scope_value}#{status}"


def counter_names_for_read(scope_attr: str, scope_value: str, status: str) -> list[str]:
    if scope_attr in ADMIN_SCOPES:
        return [f"n#{scope_value}#{status}#s{k}" for k in range(ADMIN_COUNTER_SHARDS)]
    return [f"n#{scope_value}#{status}"]


# Where a counter is stored (store/counters.py): one item per scope (and admin shard) holds ALL and every status,
# so a status move writes one item per scope instead of two; a user's platform scopes (lup) are kept in the
# user scope's item (lu), as fields `p#<platform>#<STATUS>`: the two always move together, so a move writes
# one item for both (docs/listing.md "total"); an hour bucket has an item of its own.
LISTING_PREFIX = "n#"
SCOPE_ITEM_PREFIX = "ns#"
COUNTED = ("ALL", *dict.fromkeys((*ALL_STATUSES, *MJ_STATUSES)))


def counter_location(name: str) -> tuple[str, str | None]:
    """(item name, field) of the counter `name` (the field is its status, or `p#<platform>#<STATUS>` in a user
    scope's item), or (name, None) for a counter with an item of its own."""
    if not name.startswith(LISTING_PREFIX):
        return name, None
    parts = name.split("#")
    admin = parts[1] == "g"  # admin names always end with their shard (counter_name), user names never
    shard = parts.pop() if admin and len(parts) > 3 else None
    if parts[-1] not in COUNTED:
        return name, None
    scope, field = parts[1:-1], parts[-1]
    if scope[0] == "u" and len(scope) == 5 and scope[3] == "p":  # u#<uid>#<kind>#p#<platform>
        scope, field = scope[:3], f"p#{scope[4]}#{field}"
    return SCOPE_ITEM_PREFIX + "#".join(scope) + (f"#{shard}" if shard else ""), field


def counters_in_item(item_name: str, values: dict[str | None, int]) -> dict[str, int]:
    """The counters an item holds, by name (the inverse of counter_location); `values` by field (None: the
    item's own value)."""
    if not item_name.startswith(SCOPE_ITEM_PREFIX):
        own = values.get(None)
        return {item_name: own} if item_name.startswith(LISTING_PREFIX) and own is not None else {}
    scope, shard = item_name[len(SCOPE_ITEM_PREFIX):], ""
    if scope.startswith("g#"):
        scope, shard = scope.rsplit("#", 1)
        shard = "#" + shard
    return {f"{LISTING_PREFIX}{scope}#{field}{shard}": value for field, value in values.items()
            if field is not None and field.rsplit("#", 1)[-1] in COUNTED}


# Time-bucketed counters (docs/listing.md, "A time window's total"): the scopes the dashboards' default
# time windows list (user, admin, admin + channel) also count their tasks per hour of submit time (ALL
# only), so the total of a window is whole hours summed plus the partial edge hours counted.
BUCKETED_SCOPES = ("lu", "lg", "lgc")
def bucket_counter_name(scope_attr: str, scope_value: str, bucket: int, numeric_id: int) -> str:
    name = f"n#{scope_value}#ALL#h{bucket}"
    return f"{name}#s{admin_shard(numeric_id)}" if scope_attr in ADMIN_SCOPES else name


def bucket_names_for_read(scope_attr: str, scope_value: str, hours: Iterable[int]) -> list[str]:
    """Every counter item of these hours of one bucketed scope (all its shards)."""
    shards = range(ADMIN_COUNTER_SHARDS) if scope_attr in ADMIN_SCOPES else (None,)
    return [f"n#{scope_value}#ALL#h{b}" + ("" if s is None else f"#s{s}") for b in hours for s in shards]


def counter_deltas_for_create(f: ListingFacts) -> dict[str, int]:
    deltas: dict[str, int] = {}
    for attr, value in scope_values(f).items():
        statuses = ("ALL",) if f.held else ("ALL", f.status)
        names = [counter_name(attr, value, status, f.numeric_id) for status in statuses]
        if attr in BUCKETED_SCOPES:
            names.append(bucket_counter_name(attr, value, bucket_of(f.submit_ms), f.numeric_id))
        for name in names:
            deltas[name] = deltas.get(name, 0) + 1
    return deltas


def counter_deltas_for_transition(f: ListingFacts, old_status: str, new_status: str) -> dict[str, int]:
    from dataclasses import replace

    return counter_deltas_between(replace(f, status=old_status), replace(f, status=new_status))


def counter_deltas_between(old: ListingFacts, new: ListingFacts) -> dict[str, int]:
    """Counter moves when a task's listing facts change (status, or channel on failover)."""
    minus = counter_deltas_for_create(old)
    plus = counter_deltas_for_create(new)
    return merge_deltas({k: -v for k, v in minus.items()}, plus)


def merge_deltas(*many: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in many:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v != 0}


@dataclass(frozen=True)
class ListingFilters:
    kind: str
    user_id: int | None = None  # None = admin (all users)
    platform: str | None = None
    action: str | None = None
    status: str | None = None
    channel_id: int | None = None
    serial: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class ListingPlan:
    index_name: str
    hash_attr: str
    hash_value: str
    range_attr: str  # "lt", "ls" or "lf"
    range_low: str | None  # inclusive
    range_high: str | None  # inclusive
    range_prefix: str | None  # begins_with when there is no time range
    post_filters: dict[str, object] = field(default_factory=dict)  # attribute -> required value
    counter_scope: tuple[str, str] | None = None  # (scope_attr, scope_value) when counters can give total
    counter_status: str = "ALL"
    # A time window over a bucketed scope, no status, no post filter: (start_ms, end_ms) for its hour buckets
    window: tuple[int, int | None] | None = None
    # Set by the executor: the window's end is not in the past, so its rows are those from its start on
    # (kept cursors and counted totals are named by what they list, not by an end that moves every request)
    open_end: bool = False
    # The GSI queried when it is not the scope's own (an open status of a terminal-only scope: the `ls` index
    # of the scope above, filtered on this scope's key, `index_filter`). Empty: the scope's own index.
    index_hash_attr: str = ""
    index_hash_value: str = ""
    index_filter: dict[str, str] = field(default_factory=dict)

    @property
    def query_hash_attr(self) -> str:
        return self.index_hash_attr or self.hash_attr

    @property
    def query_hash_value(self) -> str:
        return self.index_hash_value or self.hash_value


def plan_listing(f: ListingFilters) -> ListingPlan:
    """Choose the one index and key condition that serves these filters."""
    attr, value, post = _user_scope(f) if f.user_id is not None else _global_scope(f)
    time_index, status_index = SCOPE_INDEXES[attr]
    low = f"{f.start_ms:013d}" if f.start_ms is not None else None
    high = f"{f.end_ms:013d}#~" if f.end_ms is not None else None
    via_attr, via_value, via_filter = "", "", dict[str, str]()  # the scope's own index
    if f.status:
        index_name, range_attr = status_index, STATUS_INDEXES[attr].range_attr
        if range_attr == "lf" and f.status not in TERMINAL:
            # an open status: the wider scope's `ls` index, its rows filtered on this scope's key
            parent = OPEN_STATUS_PARENT[attr]
            index_name, range_attr = STATUS_INDEXES[parent].attr, "ls"
            via_attr, via_value, via_filter = parent, _parent_value(parent, f), {attr: value}
        prefix = f"{f.status}#"
        if low is not None or high is not None:
            low = prefix + (low or "")
            high = prefix + (high or "~")
            prefix = None
    else:
        index_name, range_attr, prefix = time_index, "lt", None
    has_time = f.start_ms is not None or f.end_ms is not None
    counter_scope = None if (post or has_time) else (attr, value)
    return ListingPlan(
        window=bucket_window(attr, post, f),
        index_name=index_name,
        hash_attr=attr,
        hash_value=value,
        range_attr=range_attr,
        range_low=low,
        range_high=high,
        range_prefix=prefix,
        post_filters=post,
        counter_scope=counter_scope,
        counter_status=f.status or "ALL",
        index_hash_attr=via_attr,
        index_hash_value=via_value,
        index_filter=via_filter,
    )


def _parent_value(parent: str, f: ListingFilters) -> str:
    return f"u#{f.user_id}#{f.kind}" if parent == "lu" else f"g#{f.kind}"


def bucket_window(attr: str, post: dict[str, object], f: ListingFilters) -> tuple[int, int | None] | None:
    """The window the hour buckets can total: a bucketed scope, no status, no post filter, a start."""
    if attr not in BUCKETED_SCOPES or post or f.status or f.start_ms is None:
        return None
    return (f.start_ms, f.end_ms)


def _user_scope(f: ListingFilters) -> tuple[str, str, dict[str, object]]:
    """(hash attribute, hash value, post filters) of a user's listing."""
    post: dict[str, object] = {}
    base = f"u#{f.user_id}#{f.kind}"
    if f.serial:
        attr, value = "lud", f"{base}#d#{f.serial}"
        if f.action:
            post["action"] = f.action
        if f.platform:
            post["platform"] = f.platform
    elif f.action:
        attr, value = "lua", f"{base}#a#{f.action}"
        if f.platform:
            post["platform"] = f.platform  # implied by action: keeps all or nothing
    elif f.platform:
        attr, value = "lup", f"{base}#p#{f.platform}"
    else:
        attr, value = "lu", base
    if f.channel_id is not None:
        # no surface sends it (the channel is an admin filter) and no user index projects it (listing_indexes)
        raise BadInput("channel_id is not a filter of a user's listing", field="channel_id")
    return attr, value, post


def _global_scope(f: ListingFilters) -> tuple[str, str, dict[str, object]]:
    """(hash attribute, hash value, post filters) of the admin listing (every user)."""
    post: dict[str, object] = {}
    base = f"g#{f.kind}"
    if f.channel_id is not None and f.action:
        attr, value = "lgca", f"{base}#c#{f.channel_id}#a#{f.action}"
        if f.platform:
            post["platform"] = f.platform  # implied by the action: all or nothing
    elif f.channel_id is not None:
        attr, value = "lgc", f"{base}#c#{f.channel_id}"
        if f.platform:
            post["platform"] = f.platform  # implied by channel type: all or nothing
    elif f.action:
        attr, value = "lga", f"{base}#a#{f.action}"
        if f.platform:
            post["platform"] = f.platform
    elif f.platform:
        attr, value = "lgp", f"{base}#p#{f.platform}"
    else:
        attr, value = "lg", base
    if f.serial:
        post["serial"] = f.serial
    return attr, value, post


def shard_of(text: str, shards: int) -> int:
    return zlib.crc32(text.encode()) % shards
