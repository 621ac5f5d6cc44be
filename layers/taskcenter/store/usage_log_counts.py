"""The usage log's hour buckets (docs/usage-log.md, "total"): how many ledger entries of each kind a user, and
every user (sharded), wrote in each hour, kept in the counters table, so a window's total and the hour holding
row N are read from counters, not by walking rows. The ledger table's stream moves them
(store/usage_log_stream.py): a money transaction writes its entry and nothing else for the log.

One item per scope and UTC day (`ul#u<user>#d<day>`, `ul#a<shard>#d<day>`) holds 24 hours x 3 kinds as
attributes (`c07`: charges in hour 07, `r` refunds, `t` top-ups), and beside them the hour's sum of the charges'
amounts (`q07`: new-api's consume `quota`, which /api/log/self/stat and /api/log/stat sum; docs/usage-log.md
"Stat"): a batch of the stream moves one item per scope it touched, and the dashboards' default window
(today 00:00 to now + 1 h) is one or two items per scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.transactions import TransactWrite

from taskcenter.domain.listing_plan import ADMIN_COUNTER_SHARDS, BUCKET_MS
from taskcenter.store.models import Counter, EnvModel, LedgerEntry, _LazyMeta

HOURS_PER_DAY = 24
DAY_MS = BUCKET_MS * HOURS_PER_DAY
LETTER = {"charge": "c", "refund": "r", "credit": "t"}
KINDS = tuple(LETTER)
QUOTA = "q"  # the charges' amounts per hour (the stat's quota), beside their count `c`
ADMIN_SHARDS = ADMIN_COUNTER_SHARDS  # as the admin listing counters: concurrent transactions rarely collide


def _attr_name(kind: str, hour_of_day: int) -> str:
    return f"{LETTER[kind]}{hour_of_day:02d}"


def _quota_name(hour_of_day: int) -> str:
    return f"{QUOTA}{hour_of_day:02d}"


LETTERS = (*LETTER.values(), QUOTA)


# The counters table's items are schemaless; PynamoDB needs each attribute declared, hence a generated model.
LogDayCounts: Any = type("LogDayCounts", (EnvModel,), {
    "__module__": __name__,
    "__doc__": "One scope's ledger entries per kind and hour of one UTC day (an item of the counters table).",
    "Meta": _LazyMeta(Counter.Meta.logical),
    "name": UnicodeAttribute(hash_key=True),
    **{f"{letter}{h:02d}": NumberAttribute(null=True) for letter in LETTERS for h in range(HOURS_PER_DAY)},
})


def user_item(user_id: int, day: int) -> str:
    return f"ul#u{user_id}#d{day}"


def admin_item(shard: int, day: int) -> str:
    return f"ul#a{shard}#d{day}"


def admin_shard(user_id: int) -> int:
    # By user: a transaction's entries are one user's, so it moves one admin item
    return user_id % ADMIN_SHARDS


def deltas(entries: Iterable[LedgerEntry]) -> dict[str, dict[str, int]]:
    """{item name: {attribute: entries, or the charges' amount}} for these ledger entries: the user's and the
    admin shard's day items."""
    out: dict[str, dict[str, int]] = {}
    for entry in entries:
        at = int(entry.at_ms)
        day, hour = at // DAY_MS, (at % DAY_MS) // BUCKET_MS
        adds = {_attr_name(str(entry.kind), hour): 1}
        if entry.kind == "charge":  # an ADD of the amount beside the count: no extra item (docs/usage-log.md)
            adds[_quota_name(hour)] = int(entry.amount)
        for name in (user_item(int(entry.user_id), day), admin_item(admin_shard(int(entry.user_id)), day)):
            moves = out.setdefault(name, {})
            for attr, n in adds.items():
                moves[attr] = moves.get(attr, 0) + n
    return out


STREAM_COUNTED = "stream"  # LedgerEntry.counted_by: the ledger stream's consumer counts the entry


def counted_by_stream(entry: LedgerEntry) -> bool:
    return entry.counted_by == STREAM_COUNTED


def _actions(moves: dict[str, int]) -> list[Any]:
    return [getattr(LogDayCounts, attr).add(n) for attr, n in sorted(moves.items())]


def remove_counts(tx: TransactWrite, entries: Iterable[LedgerEntry]) -> None:
    """Uncount, in the transaction that deletes them (a withdrawn charge: store/held_create.py, money.py),
    the entries their own transaction counted: those written before the ledger stream counted entries
    (no `counted_by`). The stream uncounts the others when it reads their delete."""
    for name, moves in sorted(deltas(e for e in entries if not counted_by_stream(e)).items()):
        tx.update(LogDayCounts(name=name), actions=_actions({attr: -n for attr, n in moves.items()}))


def add_counts_now(entries: Iterable[LedgerEntry]) -> None:
    """The same counts as plain updates, for entries written outside a money transaction (benchmark data)."""
    for name, moves in sorted(deltas(entries).items()):
        LogDayCounts(name=name).update(actions=_actions(moves))


def hour_counts(names_by_day: dict[int, list[str]], kinds: tuple[str, ...]) -> tuple[dict[int, int], int]:
    """{epoch hour: entries of these kinds} over the given days' items (every shard of a day summed), and the
    number of counter items read: one BatchGetItem per 100 items."""
    return _hour_values(names_by_day, tuple(LETTER[k] for k in kinds))


def hour_quotas(names_by_day: dict[int, list[str]]) -> tuple[dict[int, int], int]:
    """{epoch hour: the charges' amounts} over the given days' items, and the counter items read."""
    return _hour_values(names_by_day, (QUOTA,))


def _hour_values(names_by_day: dict[int, list[str]], letters: tuple[str, ...]) -> tuple[dict[int, int], int]:
    wanted = [name for names in names_by_day.values() for name in names]
    day_of = {name: day for day, names in names_by_day.items() for name in names}
    out: dict[int, int] = {}
    read = 0
    for item in LogDayCounts.batch_get(wanted) if wanted else ():
        read += 1
        base = day_of[str(item.name)] * HOURS_PER_DAY
        for hour in range(HOURS_PER_DAY):
            n = sum(int(getattr(item, f"{letter}{hour:02d}") or 0) for letter in letters)
            if n:
                out[base + hour] = out.get(base + hour, 0) + n
    return out, read
