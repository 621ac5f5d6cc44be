"""The stream consumers' cost per task life at a realistic batch (shared by bench_task_life and
bench_cost_model). LIVES Suno tasks of as many users (no two records of a batch share a user's counters)
live as the measured life does (submit -> SUBMITTED -> IN_PROGRESS -> SUCCESS), stage by stage, and the
consumer (services/jobs/task_stream.py) reads the stream after each stage in Lambda batches of BATCH records
(moto's GetRecords in Lambda's shape, infra/local/streams.py): a submit's creation and SUBMITTED move share
a batch, as they do within the 1 s batching window; the later moves of a task come minutes apart, so each
lands in another batch. Its counter writes are divided by the lives. Lambda's GetRecords on a DynamoDB
stream trigger are free.

`tasks_per_batch` measures a quieter stack instead: the consumer reads after every that many tasks' submits
and polls. 1 is a batch per task and stage (a submit's two records, or one move), as at about 0.4 submits a
second (a million tasks a month) within the mapping's 1 s batching window: nothing is shared between tasks;
k is a window holding k tasks' records (e.g. a 10 s window at that rate holds about 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BATCH = 100
LIVES = 100
USERS = LIVES


@dataclass
class StreamShare:
    lives: int
    records: int
    batches: int
    counter_writes: int  # UpdateItem requests (one counter item each)


class _Streams:
    """The tasks and the ledger streams' readers, drained together; their stats summed."""

    def __init__(self, readers: list[Any]) -> None:
        self.readers = readers

    def drain(self) -> int:
        return sum(reader.drain() for reader in self.readers)

    @property
    def stats(self) -> dict[str, int]:
        return {key: sum(int(r.stats[key]) for r in self.readers) for key in ("records", "batches")}


def stream_reader() -> Any:
    """Readers of the bench world's tasks and ledger streams that invoke their consumers in-process (the
    listing counters and task events; the usage log's hour buckets: docs/usage-log.md "total")."""
    import boto3
    from taskcenter.services.jobs import task_stream
    from taskcenter.services.usage_log import ledger_stream
    from taskcenter.store.models import LedgerEntry, Task

    from infra.local.streams import ShardReader, StreamSource
    from tests.support import streams_client

    streams = streams_client()
    readers = []
    for model, function_id, handler, table_id, handle in (
            (Task, "StreamsTaskStreamFunction", "functions.streams.task_stream", "TasksTable", task_stream.handle),
            (LedgerEntry, "StreamsLedgerStreamFunction", "functions.streams.ledger_stream", "LedgerTable",
             ledger_stream.handle)):
        arn = boto3.client("dynamodb").describe_table(TableName=model.Meta.table_name)["Table"]["LatestStreamArn"]
        source = StreamSource(function_id, handler, table_id, BATCH, True, True, 0, 60)
        readers.append(ShardReader(source, streams, arn, lambda event, handle=handle: (True, handle(event))))
    return _Streams(readers)


def principals(users: int = USERS, prefix: str = "stream") -> list[Any]:
    from taskcenter.services.core.auth import authenticate_relay

    from tests.support import make_account

    return [authenticate_relay(f"Bearer {make_account(f'{prefix}{i}').api_key}") for i in range(users)]


def measure(reader: Any, recorder: Any, poll: Any, upstream: Any, spec: Any, *, lives: int = LIVES,
            tasks_per_batch: int = LIVES) -> StreamShare:
    """`recorder` (entered around the consumer only) counts its writes; the lives' own writes are not here."""
    from taskcenter import clock
    from taskcenter.domain import states
    from taskcenter.services.core import submission

    users = principals(lives, f"stream{tasks_per_batch}x")
    reader.drain()  # what the measured life and the accounts' top-ups wrote: not this figure's
    before = dict(reader.stats)

    def consume() -> None:
        with recorder:
            reader.drain()

    tasks = []
    for n, user in enumerate(users, 1):
        tasks.append(submission.submit_now(user, spec))
        if n % tasks_per_batch == 0:
            consume()
    consume()
    for status, data in ((states.IN_PROGRESS, None), (states.SUCCESS, {"clips": [{"status": "complete"}]})):
        clock.advance(10)
        for n, task in enumerate(tasks, 1):
            upstream.set(task.upstream_id, status, **({"data": data} if data else {}))
            poll(task)
            if n % tasks_per_batch == 0:
                consume()
        consume()
    return StreamShare(lives, reader.stats["records"] - before["records"], reader.stats["batches"] - before["batches"],
                       0)
