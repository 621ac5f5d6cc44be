"""PynamoDB models: the only way code touches DynamoDB (docs/architecture.md, docs/listing.md).

Table names and the endpoint are resolved lazily from the environment (see `_LazyMeta`), so the same
models serve AWS, the local stack (moto server) and in-process moto. `tests/infra` proves these
definitions equal the tables declared in template.yaml.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from taskcenter import config
from taskcenter.domain.listing_indexes import LISTING_INDEXES, ListingIndex
from taskcenter.store import db as _db  # noqa: F401  (installs the shared per-thread botocore session)


class _LazyMeta:
    """A PynamoDB `Meta` whose table name, region and endpoint are read from the environment on use."""

    billing_mode = "PAY_PER_REQUEST"

    def __init__(self, logical: str, stream_view_type: str | None = None) -> None:
        self.logical = logical
        if stream_view_type:  # PynamoDB's create_table and infra/template.py read it (docs/listing.md "total")
            self.stream_view_type = stream_view_type

    @property
    def table_name(self) -> str:
        return config.table_name(self.logical)

    @property
    def region(self) -> str:
        return config.region()

    @property
    def host(self) -> str | None:
        return config.dynamodb_endpoint()


def _index_meta(name: str, projection: object | None = None) -> type:
    return type("Meta", (), {"index_name": name, "projection": projection or AllProjection()})


class EnvModel(Model):
    """A model whose cached connection follows the environment's table name, endpoint and region.

    PynamoDB caches one connection per model class and rebuilds it only when the table name changes; the
    local stacks of two test sessions use the same table names on different endpoints. On Lambda the
    environment never changes, so the check only costs a few dictionary lookups per request.
    """

    @classmethod
    def _get_connection(cls):  # type: ignore[no-untyped-def]
        key = (cls.Meta.table_name, cls.Meta.host, cls.Meta.region)
        if cls._connection is not None and getattr(cls._connection, "_taskcenter_key", None) != key:
            cls._connection = None
        connection = super()._get_connection()
        connection._taskcenter_key = key  # type: ignore[attr-defined]
        return connection


# ---------------------------------------------------------------- users
class User(EnvModel):
    """A user of the service. Roles: 1 common, 10 admin, 100 root. Status: 1 enabled, 2 disabled."""

    Meta = _LazyMeta("users")

    id = NumberAttribute(hash_key=True)
    username = UnicodeAttribute()
    display_name = UnicodeAttribute(default="")
    role = NumberAttribute(default=1)
    status = NumberAttribute(default=1)
    group = UnicodeAttribute(default="default")
    plan = UnicodeAttribute(default="Pro")  # Task API v1 license plan: Starter | Pro | Team | Business
    timezone = UnicodeAttribute(default="UTC")
    quota = NumberAttribute(default=0)
    used_quota = NumberAttribute(default=0)
    request_count = NumberAttribute(default=0)
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)


# ---------------------------------------------------------------- credentials
class CredentialsByUser(GlobalSecondaryIndex):
    """Admin: a user's tokens and keys (revoke, fan-out of user snapshot changes)."""

    Meta = _index_meta("by_user", KeysOnlyProjection())
    user_id = NumberAttribute(hash_key=True)


class Credential(EnvModel):
    """A dashboard access token (`kind=access`) or an `sk-` API key (`kind=key`), stored by SHA-256 only.

    It carries a snapshot of the owner's role, status, group and plan, kept in step by the admin
    operations that change them, so authentication is exactly one GetItem. Money never relies on the
    snapshot: the charge transaction re-checks the user's status and quota.
    Status: 1 enabled, 2 revoked. Credentials are never deleted (refunds update them later).
    """

    Meta = _LazyMeta("credentials")

    token_hash = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # access | key
    user_id = NumberAttribute()
    name = UnicodeAttribute(default="")
    preview = UnicodeAttribute(default="")  # e.g. "sk-abcd...wxyz", safe to show
    status = NumberAttribute(default=1)
    expires_at = NumberAttribute(default=-1)  # seconds; -1 never
    unlimited = BooleanAttribute(default=True)
    remaining_quota = NumberAttribute(default=0)
    used_quota = NumberAttribute(default=0)
    created_at = NumberAttribute(default=0)
    # owner snapshot
    user_role = NumberAttribute(default=1)
    user_status = NumberAttribute(default=1)
    user_group = UnicodeAttribute(default="default")
    user_plan = UnicodeAttribute(default="Pro")
    user_timezone = UnicodeAttribute(default="UTC")
    username = UnicodeAttribute(default="")

    by_user = CredentialsByUser()


# ---------------------------------------------------------------- channels
class ChannelsByType(GlobalSecondaryIndex):
    """Channel selection on the submit path: the channels of one type (a handful), one Query."""

    Meta = _index_meta("by_type")
    type = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)


class Channel(EnvModel):
    """An upstream provider. type: suno | midjourney | tikmatrix. status: 1 enabled, 2 disabled, 3 deleted."""

    Meta = _LazyMeta("channels")

    id = NumberAttribute(hash_key=True)
    type = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    base_url = UnicodeAttribute()
    # The name of the channel's secret in Secrets Manager (store/channel_secrets.py), never the secret.
    secret_ref = UnicodeAttribute(default="")
    # Plaintext from before secrets moved to Secrets Manager: only `migrate_channel_secrets` reads it (and
    # removes it); the runtime refuses to use a channel that still has one (docs/admin.md).
    legacy_secret = UnicodeAttribute(null=True, attr_name="secret")
    status = NumberAttribute(default=1)
    priority = NumberAttribute(default=0)  # higher first
    weight = NumberAttribute(default=1)  # among equal priority
    models = ListAttribute(of=UnicodeAttribute, default=list)  # models (suno/mj) served; empty = all
    devices = ListAttribute(of=UnicodeAttribute, default=list)  # tikmatrix: device serials served
    accounts = ListAttribute(of=UnicodeAttribute, default=list)  # tikmatrix: usernames served
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)

    by_type = ChannelsByType()


# ---------------------------------------------------------------- tasks
class PollIndex(GlobalSecondaryIndex):
    """Sparse, keys only: tasks with a due poll/start/retry time. The dispatcher queries next_poll_at <= now per
    shard, then reads the items (store/poll_reads.py), so a write that changes neither key writes no entry."""

    Meta = _index_meta("poll_due_v2", KeysOnlyProjection())  # "poll_due" was ALL: docs/deploy.md
    poll_shard = UnicodeAttribute(hash_key=True)
    next_poll_at = NumberAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex):
    """Sparse, keys only: what a scheduled job must look at by a time, in lanes.

    - lanes `s0`..`sN` (shards): held tasks by the hold's expiry (services/jobs/sweeper.py); the sweeper's.
    - lane `refund` (REFUND_LANE): failed charged attempts whose refund is owed (billing=refund_pending),
      by the time it became owed; the reconciler queries due_at <= now - grace (refunds whose message was
      lost). A task is in at most one lane: a refund becomes owed only when the task fails, which takes
      it out of its deadline lane in the same write, and refund_task removes it.
    Two uses share one index because the tasks table is at DynamoDB's default quota of 20 GSIs (docs/decisions.md).
    """

    Meta = _index_meta("due", KeysOnlyProjection())
    due_lane = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


REFUND_LANE = "refund"


class Task(EnvModel):
    """One task attempt of any platform (the one task model under all three surfaces).

    Times are milliseconds internally; each surface converts (dashboard tasks: seconds; MJ: ms).
    `kind` is the listing family ("task" or "mj"); listing GSI keys (lu, lup, ... lt, ls) are
    computed by `taskcenter.domain.listing_plan` and written with every change of status.
    """

    Meta = _LazyMeta("tasks", stream_view_type="NEW_AND_OLD_IMAGES")  # the counters' and events' source

    task_id = UnicodeAttribute(hash_key=True)  # public id
    id = NumberAttribute()  # numeric id from the atomic counter
    kind = UnicodeAttribute()  # task | mj
    platform = UnicodeAttribute()  # suno | midjourney | tikmatrix
    user_id = NumberAttribute()
    username = UnicodeAttribute(default="")  # the owner's (usernames never change), for the admin listing
    channel_id = NumberAttribute(default=0)
    action = UnicodeAttribute()
    status = UnicodeAttribute()
    fail_reason = UnicodeAttribute(default="")
    progress = UnicodeAttribute(default="0%")
    submit_ms = NumberAttribute()
    start_ms = NumberAttribute(default=0)
    finish_ms = NumberAttribute(default=0)
    created_at = NumberAttribute()  # seconds
    updated_at = NumberAttribute()  # seconds
    properties = JSONAttribute(default=dict)  # request-side facts (model, prompt, script_config, ...)
    data = JSONAttribute(default=dict)  # raw upstream result (clips, image, buttons, ...)
    quota = NumberAttribute(default=0)  # charged for the current attempt
    attempt = NumberAttribute(default=1)
    billing = UnicodeAttribute(default="free")  # free | charged | refund_pending | refunded
    refund_due_ms = NumberAttribute(null=True)  # set with refund_pending; the reconciler's grace clock
    settled_ms = NumberAttribute(null=True)  # video: the move to SUCCESS settled `quota` (docs/video.md)
    key_hash = UnicodeAttribute(default="")  # credential that paid (its remaining quota is refunded)
    group = UnicodeAttribute(default="default")
    model_name = UnicodeAttribute(default="")  # pricing model, e.g. suno_music
    upstream_id = UnicodeAttribute(default="")
    version = NumberAttribute(default=1)
    retry_count = NumberAttribute(default=0)  # explicit retries so far (Task API v1 limits)
    submit_attempts = NumberAttribute(default=0)  # transient submission failures (retry worker backoff)
    poll_misses = NumberAttribute(default=0)  # consecutive polls where the upstream did not return it
    serial = UnicodeAttribute(default="")  # device serial (tikmatrix)
    account = UnicodeAttribute(default="")  # device account/username (tikmatrix)
    source = UnicodeAttribute(default="api")
    scheduled_ms = NumberAttribute(default=0)  # v1 start_time resolved (0: start now)
    parent_task_id = UnicodeAttribute(default="")  # MJ action's source task
    extra = MapAttribute(default=dict)  # surface-specific odds and ends
    # The result keeper's record (docs/results.md): {"state": kept|failed, "files": {variant: {key, size, type}},
    # "error": why a copy failed for good}; absent until the keeper ran.
    results = JSONAttribute(null=True)
    # Set while a create written in several transactions is not complete: nothing dispatches the task
    # (docs/task-api-v1.md, "Create"); cleared when the whole create committed.
    create_hold = UnicodeAttribute(null=True)
    # sparse engine indexes
    poll_shard = UnicodeAttribute(null=True)
    next_poll_at = NumberAttribute(null=True)
    due_lane = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)
    # listing keys (see taskcenter.domain.listing_plan)
    lu = UnicodeAttribute(null=True)
    lup = UnicodeAttribute(null=True)
    lua = UnicodeAttribute(null=True)
    lud = UnicodeAttribute(null=True)
    lg = UnicodeAttribute(null=True)
    lgp = UnicodeAttribute(null=True)
    lga = UnicodeAttribute(null=True)
    lgc = UnicodeAttribute(null=True)
    lgca = UnicodeAttribute(null=True)
    lt = UnicodeAttribute(null=True)
    ls = UnicodeAttribute(null=True)
    lf = UnicodeAttribute(null=True)  # the status key while terminal only (listing_indexes.final_key)

    poll_due = PollIndex()
    due = DueIndex()


def _listing_index(spec: ListingIndex) -> GlobalSecondaryIndex:
    # Keys only, or keys and the few attributes a post filter reads: a page's items are a BatchGetItem
    # (store/listing_reads.py), so an update that changes no key does not write the index (docs/listing.md).
    projection = IncludeProjection(list(spec.include)) if spec.include else KeysOnlyProjection()
    attrs = {
        "Meta": _index_meta(spec.name, projection),
        spec.hash_attr: UnicodeAttribute(hash_key=True),
        spec.range_attr: UnicodeAttribute(range_key=True),
    }
    cls = type(f"Index_{spec.name}", (GlobalSecondaryIndex,), attrs)
    return cls()


def _attach_listing_indexes() -> None:
    for spec in LISTING_INDEXES:
        index = _listing_index(spec)
        setattr(Task, spec.attr, index)
        Task._indexes[spec.name] = index  # type: ignore[attr-defined]  (PynamoDB keys them by index name)
        index.Meta.model = Task  # type: ignore[attr-defined]
        index._model = Task  # what the model metaclass sets for declared indexes


_attach_listing_indexes()


# ---------------------------------------------------------------- ledger
class LedgerByDay(GlobalSecondaryIndex):
    """The reconciler audits only users whose ledger moved recently: one Query per day, no scan."""

    Meta = _index_meta("by_day", KeysOnlyProjection())
    day = UnicodeAttribute(hash_key=True)
    at_ms = NumberAttribute(range_key=True)


class LedgerByUserTime(GlobalSecondaryIndex):
    """The usage log (docs/usage-log.md): one user's entries newest first, a page per Query, no scan.
    The table's sort key (`charge#<task>#...`) is not in time order, hence this index."""

    Meta = _index_meta("by_user_time")
    user_id = NumberAttribute(hash_key=True)
    at_ms = NumberAttribute(range_key=True)


class LedgerEntry(EnvModel):
    """Money movements. `entry`: charge#<task>#<attempt> | refund#<task>#<attempt> | credit#<ms>#<rand>.

    Written with a does-not-exist condition inside the same transaction as the balance change,
    so each charge and refund happens at most once. amount is positive; kind gives the sign.
    """

    Meta = _LazyMeta("ledger", stream_view_type="NEW_AND_OLD_IMAGES")  # the usage log's buckets' source

    user_id = NumberAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # credit | charge | refund
    amount = NumberAttribute()
    task_id = UnicodeAttribute(default="")
    attempt = NumberAttribute(default=0)
    key_hash = UnicodeAttribute(default="")
    note = UnicodeAttribute(default="")
    at_ms = NumberAttribute()
    day = UnicodeAttribute()
    counted_by = UnicodeAttribute(null=True)  # "stream" or absent: who counts it in the usage log (docs/deploy.md)

    by_day = LedgerByDay()
    by_user_time = LedgerByUserTime()


# ---------------------------------------------------------------- counters
class Counter(EnvModel):
    """Atomic counters: id sequences (`seq#task`), uniqueness guards (`username#alice`), listing totals (`n#...`)."""

    Meta = _LazyMeta("counters")

    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)
    # Listing counters only: how many times a task entered or left the scope. A kept page cursor or a
    # counted total is trusted while it is unchanged (an equal `value` can hide one task leaving and
    # another entering).
    changes = NumberAttribute(null=True)
    # Only the listing page cursors and cached totals (store/page_cursors.py) set it: the table's TTL.
    expires_at = TTLAttribute(null=True)


# ---------------------------------------------------------------- webhooks (docs/webhooks.md)
class WebhookItem(EnvModel):
    """Webhook endpoints, their messages and delivery log, one table (store/webhook_repository.py):

    - `user#<user_id>` / `ep#<endpoint_id>`: an endpoint (url, signing secret, event filter, status);
    - `msg#<endpoint_id>` / `<webhook-id>`: one event for one endpoint (the signed body, state, attempts);
    - `log#<endpoint_id>` / `<ms>#<webhook-id>#<attempt>`: one delivery attempt (status, latency, next retry);
    - `seq#<endpoint_id>` / `<task_id>`: the task's undelivered event sequence numbers (order per task).
    Messages and log rows expire (TTL); every read is a GetItem or a Query on a key, never a scan.
    """

    Meta = _LazyMeta("webhooks")

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute(null=True)
    url = UnicodeAttribute(null=True)
    secret = UnicodeAttribute(null=True)  # whsec_...: shown once at creation and rotation, never in a listing
    old_secret = UnicodeAttribute(null=True)  # still signed with until old_secret_until_ms (rotation)
    old_secret_until_ms = NumberAttribute(null=True)
    events = ListAttribute(of=UnicodeAttribute, null=True)  # empty: every event
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)  # endpoint: enabled | disabled; message: pending | delivered | dead
    disabled_reason = UnicodeAttribute(null=True)
    failing_since_ms = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)  # the exact bytes signed and sent (UTF-8)
    event_type = UnicodeAttribute(null=True)
    task_id = UnicodeAttribute(null=True)
    seq = NumberAttribute(null=True)
    attempts = NumberAttribute(null=True)
    claim_until_ms = NumberAttribute(null=True)
    next_at_ms = NumberAttribute(null=True)
    status_code = NumberAttribute(null=True)
    latency_ms = NumberAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    pending = NumberSetAttribute(null=True)
    created_ms = NumberAttribute(null=True)
    updated_ms = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (User, Credential, Channel, Task, LedgerEntry, Counter, WebhookItem)
