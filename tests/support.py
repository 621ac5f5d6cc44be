"""Test support: resource creation under moto and a seeded world. Not production code."""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from taskcenter.config import QUEUE_ENV, TABLE_ENV

QUEUES = tuple(QUEUE_ENV)  # poll, refund, retry, keep, webhook


def create_tables() -> dict[str, str]:
    """Create every table from the PynamoDB models (tests/infra proves they equal template.yaml's)."""
    from taskcenter.store.counters import forget_blocks
    from taskcenter.store.models import ALL_MODELS

    forget_blocks()  # id blocks reserved from a previous test's (now gone) counters table
    env = {}
    for logical, var in TABLE_ENV.items():
        env[var] = f"test-{logical}"
    import os

    os.environ.update(env)
    # A fresh account has no tables. Each model keeps its connection (and so its botocore client) across
    # tests: moto answers any client made after moto's import, and a new client per model per test was
    # a third of this fixture's time (EnvModel rebuilds it when the table name, endpoint or region change).
    # A test that patches a model's indexes puts the model's connection back too (test_listing_index_reads).
    for model in ALL_MODELS:
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=False)
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=env["IDEMPOTENCY_TABLE"],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return env


def create_queues() -> dict[str, str]:
    sqs = boto3.client("sqs")
    env = {}
    for logical in QUEUES:
        dlq = sqs.create_queue(QueueName=f"test-{logical}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=f"test-{logical}",
            Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        env[QUEUE_ENV[logical]] = url
        env[QUEUE_ENV[logical].replace("_URL", "_DLQ_URL")] = dlq
    import os

    os.environ.update(env)
    return env


def create_results_bucket() -> dict[str, str]:
    """The results bucket (docs/results.md), private and encrypted as template.yaml declares it."""
    from taskcenter.config import RESULTS_BUCKET_ENV

    name = "test-results"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    import os

    os.environ[RESULTS_BUCKET_ENV] = name
    return {RESULTS_BUCKET_ENV: name}


def create_kms_key() -> dict[str, str]:
    """The v1 script-secrets key (template.yaml: V1SecretsKey), as the template declares it."""
    import os

    from taskcenter import script_secrets

    script_secrets.clear_cache()  # values decrypted under a previous test's (now gone) key
    kms = boto3.client("kms")
    arn = kms.create_key(Description="test v1 script secrets", KeyUsage="ENCRYPT_DECRYPT",
                         KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["Arn"]
    env = {script_secrets.KEY_ENV: arn}
    os.environ.update(env)
    return env


@dataclass
class Account:
    user_id: int
    username: str
    access_token: str
    api_key: str
    key_hash: str

    def dashboard_headers(self, with_bearer_prefix: bool = True) -> dict[str, str]:
        uid = f"Bearer {self.user_id}" if with_bearer_prefix else str(self.user_id)
        return {"Authorization": f"Bearer {self.access_token}", "New-Api-User": uid,
                "Content-Type": "application/json"}

    def relay_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


@dataclass
class World:
    admin: Account
    user: Account
    other: Account
    channels: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def make_account(username: str, *, role: int = 1, quota: int = 10_000_000, plan: str = "Pro",
                 key_quota: int | None = None) -> Account:
    from taskcenter.services.admin import operations as admin

    user = admin.create_user(username, role=role, quota=quota, plan=plan)
    access = admin.issue_credential(user["id"], "access")
    key = admin.issue_credential(user["id"], "key", unlimited=key_quota is None, remaining_quota=key_quota or 0)
    return Account(user["id"], username, access["token"], key["token"], key["token_hash"])


def seed_world(channels: dict[str, str] | None = None) -> World:
    """An admin, a user and another user, each with an access token and an API key.

    `channels` maps a channel type to its base URL (e.g. a simulated upstream's); none by default.
    """
    from taskcenter.services.admin import operations as admin

    world = World(admin=make_account("admin", role=10), user=make_account("alice"), other=make_account("bob"))
    for ctype, url in (channels or {}).items():
        world.channels[ctype] = admin.create_channel(ctype, url, name=f"{ctype}-sim", secret="sim-secret")["id"]
    return world


_draining = threading.local()  # set while the in-process stream consumer runs (its requests are not the test's)
STREAM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def _tables_written(params: dict[str, Any]) -> set[str]:
    tables = {params.get("TableName", "")} | set(params.get("RequestItems") or {})
    for item in params.get("TransactItems") or []:
        tables |= {part.get("TableName", "") for part in item.values() if isinstance(part, dict)}
    return tables


def _observes_consumers(service: str, operation: str, params: dict[str, Any], counters_table: str) -> bool:
    """Whether a request could see what the stream consumers write (the counters table, the webhook queue): the
    consumers run before it. Writes to the streamed tables, and every other request, do not wait for them, so
    a run of writes reaches the consumers as one batch, as Lambda's batching window gives it them."""
    if service == "sqs":
        return operation not in ("SendMessage", "SendMessageBatch")
    return service == "dynamodb" and counters_table in _tables_written(params)


def _stream_reader(model: Any, function_id: str, handler: str, table_id: str, handle: Any) -> Any:
    from infra.local.streams import ShardReader, StreamSource

    arn = boto3.client("dynamodb").describe_table(TableName=model.Meta.table_name)["Table"]["LatestStreamArn"]
    source = StreamSource(function_id, handler, table_id, batch_size=100, bisect=True, report_failures=True,
                          max_retries=0, window_seconds=60)

    def invoke(event: dict[str, Any]) -> tuple[bool, Any]:
        return True, handle(event)  # a handler error is the test's failure: raise it

    return ShardReader(source, streams_client(), arn, invoke)


@functools.cache
def streams_client() -> Any:
    """One DynamoDB Streams client for every test and bench (moto answers it in each fresh account, as the
    models' own clients)."""
    from botocore.config import Config

    # botocore >= 1.37 sends stream ARNs to account-id endpoints (<account>.streams-ddb...), which
    # in-process moto does not route yet: the regional endpoint, as the local stack's runner uses
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


class drain_task_stream:  # noqa: N801 - used as a context manager
    """The stream consumers (functions/streams.py), run in-process over the records of the tasks and the ledger
    tables written since they last ran, before any request that could see what they write (`_observes_consumers`),
    as Lambdas that keep up: listing totals, task events and the usage log's hour buckets are what a reader sees
    once the write settled (docs/listing.md "total", docs/usage-log.md "total"). The
    records are moto's GetRecords, read as the local stack's event runner reads them (infra/local/streams.py:
    Lambda's event shape, checkpoint, partial failures). Their own requests are not counted by
    record_dynamodb_calls. `paused` holds both (a test that drives a stream itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orig = None
        self.reader: Any = None
        self.ledger_reader: Any = None
        self._paused = False
        self.errors: list[BaseException] = []
        self.pending: set[str] = set()  # streamed tables written since the last drain

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        """Pausing keeps what was written before it consumed, as a Lambda that kept up until then."""
        if value and not self._paused:
            self.catch_up()
        self._paused = value

    def catch_up(self) -> None:
        """Run the consumers over the records of the tables written since they last ran."""
        if self.pending:
            self.drain(set(self.pending))

    def _reader(self) -> Any:
        """The tasks stream's reader."""
        if self.reader is None:
            from taskcenter.services.jobs import task_stream
            from taskcenter.store.models import Task

            self.reader = _stream_reader(Task, "StreamsTaskStreamFunction", "functions.streams.task_stream",
                                         "TasksTable", task_stream.handle)
        return self.reader

    def _ledger_reader(self) -> Any:
        if self.ledger_reader is None:
            from taskcenter.services.usage_log import ledger_stream
            from taskcenter.store.models import LedgerEntry

            self.ledger_reader = _stream_reader(LedgerEntry, "StreamsLedgerStreamFunction",
                                                "functions.streams.ledger_stream", "LedgerTable", ledger_stream.handle)
        return self.ledger_reader

    def drain(self, tables: set[str] | None = None) -> int:
        """Read the streams of `tables` (both when None) to their ends. The consumers write neither streamed
        table, so a write to one table leaves the other stream as it was."""
        from taskcenter.store.models import LedgerEntry, Task

        with self._lock:
            _draining.active = True
            self.pending = self.pending - tables if tables is not None else set()
            try:
                read = 0
                if tables is None or Task.Meta.table_name in tables:
                    read += self._reader().drain()
                if tables is None or LedgerEntry.Meta.table_name in tables:
                    read += self._ledger_reader().drain()
                return read
            finally:
                _draining.active = False

    def __enter__(self) -> drain_task_stream:
        global active_stream
        from botocore.client import BaseClient
        from taskcenter.store.models import Counter, LedgerEntry, Task

        self._orig = orig = BaseClient._make_api_call
        streamed = {Task.Meta.table_name, LedgerEntry.Meta.table_name}
        counters_table = Counter.Meta.table_name

        def drain_when_read(client, operation_name, api_params):  # type: ignore[no-untyped-def]
            # only the live consumer drains: a wrapper left in botocore's chain by an earlier test (a spy restored
            # out of order) must not read this test's stream with its old checkpoint (it would skip records)
            live = not self.paused and not getattr(_draining, "active", False) and active_stream is self
            service = client.meta.service_model.service_name
            if live and self.pending and _observes_consumers(service, operation_name, api_params, counters_table):
                self.catch_up()
            result = orig(client, operation_name, api_params)
            if live and operation_name in STREAM_WRITES and service == "dynamodb":
                self.pending |= streamed & _tables_written(api_params)
            return result

        BaseClient._make_api_call = drain_when_read
        active_stream = self
        return self

    def __exit__(self, *exc: object) -> None:
        global active_stream
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig
        active_stream = None


active_stream: drain_task_stream | None = None  # the `aws` fixture's (tests/conftest.py)


class record_dynamodb_calls:  # noqa: N801 - used as a context manager
    """Counts DynamoDB requests through botocore's event system (every PynamoDB/boto3 client, any session).

    PynamoDB creates its own botocore sessions, so the hook is installed on the client class itself.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.transaction_sizes: list[int] = []  # len(TransactItems) of every TransactWriteItems request
        self._orig = None

    def __enter__(self) -> list[tuple[str, str]]:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        calls = self.calls
        sizes = self.transaction_sizes
        orig = self._orig

        def spy(client, operation_name, api_params):  # type: ignore[no-untyped-def]
            if client.meta.service_model.service_name == "dynamodb" and not getattr(_draining, "active", False):
                table = api_params.get("TableName", "")
                if not table and "RequestItems" in api_params:
                    table = ",".join(api_params["RequestItems"])
                if not table and "TransactItems" in api_params:
                    table = "transaction"
                    if operation_name == "TransactWriteItems":
                        sizes.append(len(api_params["TransactItems"]))
                calls.append((operation_name, table))
            return orig(client, operation_name, api_params)

        BaseClient._make_api_call = spy
        return self.calls

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig


class serialize_aws_requests:  # noqa: N801 - used as a context manager
    """Make each in-process moto request atomic, as each real DynamoDB/SQS request is.

    moto's in-process backends take no locks, so two threads' conditional writes can interleave
    inside one request and both "win". Real DynamoDB evaluates a condition and applies the write
    atomically; this lock restores that guarantee so race tests exercise our logic, not moto's.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.RLock()
        self._orig = None

    def __enter__(self) -> None:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        orig, lock = self._orig, self._lock

        def atomic(client, operation_name, api_params):  # type: ignore[no-untyped-def]
            with lock:
                return orig(client, operation_name, api_params)

        BaseClient._make_api_call = atomic

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig


def snapshot_tables() -> dict[str, list[dict[str, Any]]]:
    """Every item of every table (test-only Scan), sorted, to assert that bad input wrote nothing."""
    import os

    client = boto3.client("dynamodb")
    out: dict[str, list[dict[str, Any]]] = {}
    for var in TABLE_ENV.values():
        name = os.environ[var]
        items = client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True).build_full_result()
        out[name] = sorted(items.get("Items", []), key=lambda item: json.dumps(item, sort_keys=True))
    return out


def use_provider(monkeypatch: Any, channel_type: str, provider: Any) -> None:
    """Serve `channel_type`'s channels with `provider` (a fake adapter) for this test: its platform row, replaced."""
    import dataclasses

    from taskcenter.services import platforms

    monkeypatch.setitem(platforms.TABLE, channel_type, dataclasses.replace(platforms.TABLE[channel_type],
                                                                           provider=provider))


def add_listing_counts(deltas: dict[str, int]) -> None:
    """Add listing counter deltas (logical names, domain/listing_plan.py) where the stream consumer keeps them
    (store/counters.py: one item per scope), without its shard marks: test and benchmark seeding only."""
    from taskcenter.domain import listing_plan as listing
    from taskcenter.store import counters

    items: dict[str, dict[str, int]] = {}
    for name, delta in deltas.items():
        item, status = listing.counter_location(name)
        moves = items.setdefault(item, {})
        for attr, n in ((counters.value_attribute(status), delta), (counters.changes_attribute(status), abs(delta))):
            moves[attr] = moves.get(attr, 0) + n
    from pynamodb.expressions.operand import Path

    for item, moves in items.items():  # a user scope's item holds undeclared fields (store/counters.py): by path
        counters.ScopeCounts(name=item).update(actions=[Path([attr]).add(n) for attr, n in sorted(moves.items())])
