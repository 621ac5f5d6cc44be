"""Page-boundary cursors for listings, kept briefly in the counters table (docs/listing.md).

DynamoDB cannot skip to page p. When a listing page is served, the keys of its first and last rows
are kept here, with the listing's `total` and its scope counter (total and change count) at that
moment: a cursor is only used while they say where its row is now. Items expire (`expires_at`, epoch
seconds; a TTL attribute once the counters table's TTL is enabled) and are small; they share the
counters table because they are, like counters, derived listing state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from taskcenter import clock, settings
from taskcenter.store.counters import ScopeCount
from taskcenter.store.models import _LazyMeta


class PageCursor(Model):
    """`name` = pc#<listing digest>#<row>; `start_key` = the DynamoDB index key (JSON) of row number <row>
    (1 = the newest) when it was kept, with the listing's total and its scope counter then."""

    Meta = _LazyMeta("counters")

    name = UnicodeAttribute(hash_key=True)
    start_key = UnicodeAttribute()
    total_at = NumberAttribute()
    scope_total_at = NumberAttribute(default=0)
    scope_changes_at = NumberAttribute(default=0)
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Cursor:
    start_key: dict[str, dict[str, str]]  # raw ExclusiveStartKey (GSI keys + table key)
    total_at: int  # the listing's total
    scope: ScopeCount  # the scope counter's total and change count


def _name(digest: str, offset: int) -> str:
    return f"pc#{digest}#{offset}"


def load_many(digest: str, offsets: list[int]) -> dict[int, Cursor]:
    """The unexpired cursors among `offsets` (one BatchGetItem)."""
    names = {_name(digest, offset): offset for offset in dict.fromkeys(offsets)}
    now = clock.now_s()
    out: dict[int, Cursor] = {}
    for item in PageCursor.batch_get(list(names)):
        if int(item.expires_at) >= now:
            out[names[item.name]] = _cursor(item)
    return out


def _cursor(item: PageCursor) -> Cursor:
    scope = ScopeCount(int(item.scope_total_at or 0), int(item.scope_changes_at or 0))
    return Cursor(json.loads(item.start_key), int(item.total_at), scope)


def _item(digest: str, offset: int, cursor: Cursor) -> PageCursor:
    return PageCursor(
        name=_name(digest, offset),
        start_key=json.dumps(cursor.start_key, separators=(",", ":"), sort_keys=True),
        total_at=cursor.total_at,
        scope_total_at=cursor.scope.total,
        scope_changes_at=cursor.scope.changes,
        expires_at=clock.now_s() + settings.get().listing_cursor_ttl_seconds,
    )


def save(digest: str, offset: int, cursor: Cursor) -> None:
    _item(digest, offset, cursor).save()


def save_many(digest: str, cursors: dict[int, Cursor]) -> None:
    """Keep several cursors of one listing (one BatchWriteItem for up to 25)."""
    if len(cursors) == 1:
        save(digest, *next(iter(cursors.items())))
        return
    with PageCursor.batch_write() as batch:
        for offset, cursor in cursors.items():
            batch.save(_item(digest, offset, cursor))


class ListingTotal(Model):
    """`name` = pt#<listing digest>: a counted total (COUNT query) and the scope's change count then."""

    Meta = _LazyMeta("counters")

    name = UnicodeAttribute(hash_key=True)
    total = NumberAttribute()
    scope_version = NumberAttribute()
    expires_at = NumberAttribute()


def load_total(digest: str, scope_version: int) -> int | None:
    """A counted total still valid: kept less than its TTL ago, no task having entered or left the scope
    since (`scope_version` = the scope counter's change count)."""
    try:
        item = ListingTotal.get(f"pt#{digest}")
    except DoesNotExist:
        return None
    if int(item.expires_at) < clock.now_s() or int(item.scope_version) != scope_version:
        return None
    return int(item.total)


def save_total(digest: str, scope_version: int, total: int) -> None:
    ListingTotal(name=f"pt#{digest}", total=total, scope_version=scope_version,
                 expires_at=clock.now_s() + settings.get().listing_total_cache_seconds).save()
