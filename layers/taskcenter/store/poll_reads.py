"""The poll dispatcher's read of the tasks table (services/jobs/polling.py; docs/engine.md, "Polling").

The sparse poll index (`Task.poll_due`, `poll_due_v2`) projects its keys only: a write that changes neither
`poll_shard` nor `next_poll_at` (a status move, a progress or data write) writes no entry, and an entry is
about 100 bytes whatever the task holds (docs/decisions.md). So a shard's due tasks are two reads: a Query
of the index's keys, then the items, one BatchGetItem per 100 keys (PynamoDB's `batch_get`, which resends
the keys DynamoDB leaves unprocessed).

The items are read eventually consistent (half the read units): the keys come from an eventually consistent
index anyway, and nothing the dispatcher does trusts the read alone: a start is held by a write conditional
on the task's status and version, and a poll message's tasks are read again, consistently, by the poll
worker. A stale item costs at most one needless message or a minute's wait. A key whose item is gone, or
is no longer due (the index lags the table), is skipped.

During the staged index migration (docs/deploy.md, "Replacing the poll index") the index may not exist yet:
the one it replaces (`PREVIOUS_INDEX_NAME`, same keys) is read while that exists, and with neither readable
the read raises `Unavailable`. Nothing is lost meanwhile: every item keeps its `next_poll_at`, and the new
index is built from it.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import GlobalSecondaryIndex

from taskcenter.domain.errors import Unavailable
from taskcenter.store.db import index_not_ready
from taskcenter.store.models import EnvModel, Task, _index_meta, _LazyMeta

PREVIOUS_INDEX_NAME = "poll_due"  # ALL projection: deleted by the staged migration (infra/template_migration.py)


class _PreviousPollIndex(GlobalSecondaryIndex):
    Meta = _index_meta(PREVIOUS_INDEX_NAME)
    poll_shard = UnicodeAttribute(hash_key=True)
    next_poll_at = NumberAttribute(range_key=True)


class _TaskKeys(EnvModel):
    """The tasks table through the poll index it had before; not in ALL_MODELS, so not in the template."""

    Meta = _LazyMeta(Task.Meta.logical)  # type: ignore[attr-defined]
    task_id = UnicodeAttribute(hash_key=True)
    poll_shard = UnicodeAttribute(null=True)
    next_poll_at = NumberAttribute(null=True)
    poll_due = _PreviousPollIndex()


def due_for_poll(shard: str, now_ms: int, limit: int, *, after: tuple[int, str] | None = None) -> list[Task]:
    """The tasks of `shard` whose next poll is due by `now_ms`, as stored, soonest first, at most `limit`, past
    the index position `after` (next_poll_at, task_id) when given."""
    task_ids = due_keys(shard, now_ms, limit, after=after)
    if not task_ids:
        return []
    items = Task.batch_get(task_ids, consistent_read=False)
    due = [t for t in items if t.poll_shard == shard and t.next_poll_at is not None
           and int(t.next_poll_at) <= now_ms]
    return sorted(due, key=lambda t: (int(t.next_poll_at or 0), t.task_id))


def due_keys(shard: str, now_ms: int, limit: int, *, after: tuple[int, str] | None = None) -> list[str]:
    """Ids of the index's entries of `shard` due by `now_ms`, soonest first, at most `limit` (one Query), past
    the position `after` when given (the Query's ExclusiveStartKey: the index's keys and the table's)."""
    start = None if after is None else {"poll_shard": {"S": shard}, "next_poll_at": {"N": str(int(after[0]))},
                                        "task_id": {"S": after[1]}}
    refused: Exception | None = None
    for model in (Task, _TaskKeys):
        try:
            return [t.task_id for t in model.poll_due.query(shard, model.next_poll_at <= now_ms, limit=limit,
                                                            last_evaluated_key=start)]
        except (ValueError, PynamoDBException) as error:
            if not index_not_ready(error):
                raise
            refused = refused or error  # the new index's refusal is the one worth reporting
    raise Unavailable("the poll index is being built; the dispatcher finds nothing until it is ACTIVE") from refused
