"""Every setting of the service, typed, with its default and bounds, read once from the environment.

    from taskcenter import settings
    settings.get().poll_batch_size

One frozen `Settings` per process, parsed on first use and cached: a Lambda's environment never changes
within a process. `reload()` re-reads it (infra/admin_cli.py, after it has pointed itself at a stack);
`follow_environment(True)` makes `get()` re-read whenever one of the variables changed, for processes that
change their own environment between calls: tests/conftest.py (monkeypatch.setenv), tests/bench and the
local stack's supervisor (infra/local/stack.py). Following costs one os.environ lookup per variable per
`get()`, which is why Lambda does not follow.

Each field names its variable, its bounds (out-of-range values are clamped, never refused) and what it
means. An empty variable counts as unset. docs/configuration.md is generated from this module and the
code that reads each field (`make configuration`); tests/infra checks that it is up to date. Table names,
queue URLs, the region and the endpoints are AWS wiring and stay in taskcenter/config.py.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

LOCAL_CHANNEL_SECRET_PREFIX = "taskcenter/local/channel/"  # the local stack and tests (template.yaml sets the stack's)


def _setting(env: str, default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None,
             strip: str = "", read_by: str = "") -> Any:
    """A field: `env` is its variable; `strip` characters are removed from the value's end; `read_by` names
    a library that reads the variable itself."""
    meta = {"env": env, "doc": doc, "min": minimum, "max": maximum, "strip": strip, "read_by": read_by}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """The service's settings (docs/configuration.md)."""

    # ------------------------------------------------------------ tasks and the poll engine (docs/engine.md)
    task_timeout_seconds: int = _setting(
        "TASK_TIMEOUT_SECONDS", 24 * 3600, "Unfinished tasks older than this are failed and refunded.")
    poll_shards: int = _setting("POLL_SHARDS", 4,
                                "Shards of the poll and open indexes (a task's shard comes from its id).")
    poll_batch_size: int = _setting("POLL_BATCH_SIZE", 50, "Upstream ids per poll message (Suno batch fetch).",
                                    minimum=1)
    poll_fast_window_seconds: int = _setting(
        "POLL_FAST_WINDOW_SECONDS", 300, "How long after a change a task stays in the fast lane (chained polls).",
        minimum=0)
    poll_chain_delay_seconds: int = _setting(
        "POLL_CHAIN_DELAY_SECONDS", 8, "SQS delay between chain links (SQS allows 0..900).", minimum=0, maximum=900)
    poll_chain_max_links: int = _setting("POLL_CHAIN_MAX_LINKS", 200, "Chained poll messages per chain at most.",
                                         minimum=0)
    poll_progress_min_interval_seconds: int = _setting(
        "POLL_PROGRESS_MIN_INTERVAL_SECONDS", 10,
        "Minimum time between two same-status writes (progress/data only; status moves are never held back).",
        minimum=0)
    poll_max_misses: int = _setting(
        "POLL_MAX_MISSES", 3, "Polls in a row the upstream may not know a task before it fails.", minimum=1)
    poll_dispatch_limit: int = _setting(
        "POLL_DISPATCH_LIMIT", 5000, "Due items read per shard per dispatcher run (the next run goes on after them).",
        minimum=1)
    first_poll_seconds: int = _setting("FIRST_POLL_SECONDS", 5, "Delay of a submitted task's first poll.")
    sweep_limit: int = _setting("SWEEP_LIMIT", 1000, "Due deadlines read per shard per sweep.", minimum=1)

    # ------------------------------------------------------------ submission and retries
    submit_channel_attempts: int = _setting(
        "SUBMIT_CHANNEL_ATTEMPTS", 3, "Channels tried in one dispatch of a submission.", minimum=1)
    submit_max_retries: int = _setting(
        "SUBMIT_MAX_RETRIES", 5, "Background resubmissions of a task whose upstream call failed.", minimum=0)
    submit_rescue_seconds: int = _setting(
        "SUBMIT_RESCUE_SECONDS", 120,
        "A safety net for a request that dies before the upstream call: a relay submit's task is held this long "
        "(longer than the submit functions' 60 s timeout), then the timeout sweeper fails and refunds it; any other "
        "new task is due this much later, and the retry worker submits it.", minimum=60)
    retry_claim_seconds: int = _setting(
        "RETRY_CLAIM_SECONDS", 300, "How long the retry worker's claim on a task lasts.", minimum=30)

    # ------------------------------------------------------------ money (docs/engine.md, refunds and the audit)
    refund_grace_seconds: int = _setting(
        "REFUND_GRACE_SECONDS", 300, "Age of a pending refund before the reconciler requeues it.", minimum=0)
    audit_days: int = _setting("AUDIT_DAYS", 2, "Days of ledger the reconciler's money audit reads.", minimum=1)
    reconcile_limit: int = _setting("RECONCILE_LIMIT", 1000, "Owed refunds the reconciler requeues per run.", minimum=1)
    model_prices: dict[str, float] = _setting(
        "MODEL_PRICES", {}, "JSON object of model prices in USD, merged over the defaults of domain/pricing.py "
        "(video: `video:<model>` and `video:<model>@<size>`, USD per second, domain/video_pricing.py).")
    group_ratios: dict[str, float] = _setting(
        "GROUP_RATIOS", {}, "JSON object of group price ratios, merged over the defaults of domain/pricing.py.")

    # ------------------------------------------------------------ idempotency, listing, ids
    idempotency_ttl_seconds: int = _setting(
        "IDEMPOTENCY_TTL_SECONDS", 24 * 3600, "How long an Idempotency-Key's record (and its reply) is kept.")
    idempotency_in_progress_seconds: int = _setting(
        "IDEMPOTENCY_IN_PROGRESS_SECONDS", 60,
        "How long an unfinished first attempt blocks its key (about a relay Lambda's timeout).")
    listing_cursor_ttl_seconds: int = _setting(
        "LISTING_CURSOR_TTL_SECONDS", 300, "Lifetime of a stored listing page cursor (docs/listing.md).")
    listing_total_cache_seconds: int = _setting(
        "LISTING_TOTAL_CACHE_SECONDS", 120, "Lifetime of a cached listing total (docs/listing.md).")
    id_block_size: int = _setting("ID_BLOCK_SIZE", 50, "Numeric ids reserved per counter write.", minimum=1)

    # ------------------------------------------------------------ upstream calls and channels
    upstream_connect_timeout: float = _setting("UPSTREAM_CONNECT_TIMEOUT", 3.0,
                                               "Seconds to connect to an upstream (default of every call).")
    upstream_read_timeout: float = _setting("UPSTREAM_READ_TIMEOUT", 15.0,
                                            "Seconds to wait for an upstream's reply (default of every call).")
    upstream_connect_retries: int = _setting("UPSTREAM_CONNECT_RETRIES", 1,
                                             "Connection retries of an upstream call (default of every call).")
    private_host_allowlist: frozenset[str] = _setting(
        "PRIVATE_HOST_ALLOWLIST", frozenset(),
        "Comma-separated host:port entries (lower case) an upstream may use although private (the local "
        "stack's simulators).")
    allow_private_upstreams: bool = _setting(
        "ALLOW_PRIVATE_UPSTREAMS", False, "Whether an admin may give a channel a private base URL.")
    channel_secret_prefix: str = _setting(
        "CHANNEL_SECRET_PREFIX", LOCAL_CHANNEL_SECRET_PREFIX,
        "Secrets Manager name prefix of the channel secrets (docs/admin.md, Channel secrets).")
    channel_secret_max_age_seconds: int = _setting(
        "CHANNEL_SECRET_MAX_AGE_SECONDS", 300, "How long a read channel secret is cached.", minimum=0)

    # ------------------------------------------------------------ Midjourney (docs/midjourney.md)
    mj_forward_images: bool = _setting(
        "MJ_FORWARD_IMAGES", True,
        "Show MJ image_url as {PUBLIC_BASE_URL}/mj/image/{id} and stream it (true), or the upstream's URL.")
    mj_image_max_bytes: int = _setting("MJ_IMAGE_MAX_BYTES", 4 * 1024 * 1024, "Largest image the proxy streams.",
                                       minimum=1024)
    mj_image_timeout_seconds: float = _setting(
        "MJ_IMAGE_TIMEOUT_SECONDS", 20.0, "Seconds the image proxy waits for the upstream image.", minimum=0.5)
    mj_list_batch_size: int = _setting("MJ_LIST_BATCH_SIZE", 100, "Ids per upstream list-by-condition call.",
                                       minimum=1)
    dashboard_cors_origins: str = _setting(
        "DASHBOARD_CORS_ORIGINS", "",
        "Comma-separated origins (https://dash.example.com) whose browsers may call the dashboard routes (/api/...) "
        "cross-origin; * for any; empty: none. The relay routes allow any origin, as new-api (docs/compatibility.md).")
    public_base_url: str = _setting(
        "PUBLIC_BASE_URL", "",
        "Public base URL (custom domain, no trailing slash) for links such as /mj/image/{id}; empty: the URL "
        "each request came in on.", strip="/")

    # ------------------------------------------------------------ results kept (docs/results.md)
    results_max_bytes: int = _setting(
        "RESULTS_MAX_BYTES", 512 * 1024 * 1024, "Largest result file the keeper copies into the results bucket.",
        minimum=1024)
    results_copy_timeout_seconds: float = _setting(
        "RESULTS_COPY_TIMEOUT_SECONDS", 240.0,
        "Seconds one result file's copy may take (download and upload), below the keep worker's timeout.",
        minimum=1.0)
    results_copy_attempts: int = _setting(
        "RESULTS_COPY_ATTEMPTS", 4,
        "Deliveries of a keep message before a copy that keeps failing is recorded as failed for good (below "
        "the queue's maxReceiveCount).", minimum=1, maximum=4)
    results_url_seconds: int = _setting(
        "RESULTS_URL_SECONDS", 300, "Lifetime of the presigned URL a result route redirects to.",
        minimum=10, maximum=7 * 24 * 3600)

    # ------------------------------------------------------------ Task API v1 (docs/task-api-v1.md)
    v1_admission_recheck_seconds: int = _setting(
        "V1_ADMISSION_RECHECK_SECONDS", 60,
        "How long a task refused a device slot first waits before the dispatcher tries again.", minimum=1)
    v1_admission_max_wait_seconds: int = _setting(
        "V1_ADMISSION_MAX_WAIT_SECONDS", 150,
        "The longest a task refused a slot goes unchecked (a quarter of its wait so far, up to this); keep it "
        "below RETRY_CLAIM_SECONDS.", minimum=1)
    v1_create_hold_seconds: int = _setting(
        "V1_CREATE_HOLD_SECONDS", 300,
        "How long the tasks of an unfinished multi-chunk create stay held before the sweeper fails and refunds "
        "them (longer than a create may run).", minimum=60)
    v1_max_retries: int = _setting("V1_MAX_RETRIES", 3, "Retries per v1 task (POST /{id}/retry and retry-all).",
                                   minimum=0)
    v1_retry_all_page_size: int = _setting(
        "V1_RETRY_ALL_PAGE_SIZE", 100, "Tasks per page of a retry-all run.", minimum=1, maximum=500)
    v1_secrets_key_arn: str = _setting(
        "V1_SECRETS_KEY_ARN", "",
        "KMS key of script_config secrets and webhook signing secrets; empty: they cannot be stored.")

    # ------------------------------------------------------------ webhooks (docs/webhooks.md)
    webhook_retry_schedule: str = _setting(
        "WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,50400,72000",
        "Seconds before each retry of a webhook delivery, comma-separated (plus up to 20 % jitter); the "
        "default spans 51.6 h (Standard Webhooks' example schedule).")
    webhook_disable_after_seconds: int = _setting(
        "WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 24 * 3600,
        "An endpoint whose deliveries have failed for this long, without one success, is disabled.", minimum=0)
    webhook_timeout_seconds: float = _setting(
        "WEBHOOK_TIMEOUT_SECONDS", 15.0, "Total time limit of one delivery (connect, send, read).",
        minimum=1, maximum=30)
    webhook_max_response_bytes: int = _setting(
        "WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, "Response bytes read from a receiver at most (the rest is cut).",
        minimum=1024)
    webhook_order_wait_seconds: int = _setting(
        "WEBHOOK_ORDER_WAIT_SECONDS", 5,
        "Delay before a task's later event is looked at again while an earlier one is undelivered.",
        minimum=1, maximum=900)
    webhook_log_ttl_seconds: int = _setting(
        "WEBHOOK_LOG_TTL_SECONDS", 14 * 24 * 3600, "How long messages and delivery attempts are kept.", minimum=3600)
    webhook_rotation_overlap_seconds: int = _setting(
        "WEBHOOK_ROTATION_OVERLAP_SECONDS", 24 * 3600,
        "After a secret rotation, deliveries are signed with the old secret too for this long.", minimum=0)

    # ------------------------------------------------------------ read by aws-lambda-powertools itself
    powertools_service_name: str = _setting("POWERTOOLS_SERVICE_NAME", "task-center",
                                            "Service name of logs and metrics.", read_by="aws-lambda-powertools")
    powertools_metrics_namespace: str = _setting("POWERTOOLS_METRICS_NAMESPACE", "TaskCenter",
                                                 "CloudWatch namespace of the metrics.",
                                                 read_by="aws-lambda-powertools")
    powertools_log_level: str = _setting("POWERTOOLS_LOG_LEVEL", "INFO", "Log level.",
                                         read_by="aws-lambda-powertools")


SETTINGS = tuple(fields(Settings))
ENV_NAMES = tuple(f.metadata["env"] for f in SETTINGS)


def env_name(name: str) -> str:
    """The environment variable of the field `name`."""
    return Settings.__dataclass_fields__[name].metadata["env"]


def _parse(spec: Any, raw: str) -> Any:
    default = spec.default_factory() if spec.default is MISSING else spec.default
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return _clamp(spec, int(raw))
    if isinstance(default, float):
        return _clamp(spec, float(raw))
    if isinstance(default, frozenset):
        return frozenset(e.strip().lower() for e in raw.split(",") if e.strip())
    if isinstance(default, str):
        return raw.rstrip(spec.metadata["strip"]) if spec.metadata["strip"] else raw
    import json  # only when a JSON setting is set

    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{spec.metadata['env']} must be a JSON object")
    return value


def _clamp(spec: Any, value: float) -> Any:
    low, high = spec.metadata["min"], spec.metadata["max"]
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def load(environ: Any = None) -> Settings:
    """Settings from `environ` (default os.environ); an unset or empty variable gives the default."""
    environ = os.environ if environ is None else environ
    values = {}
    for spec in SETTINGS:
        raw = environ.get(spec.metadata["env"])
        if raw:
            values[spec.name] = _parse(spec, raw)
    return Settings(**values)


_current: Settings | None = None
_raw: tuple[str | None, ...] | None = None
_follow = False


def get() -> Settings:
    """The process's settings (read on first use)."""
    if _current is None or _follow:
        return _refresh()
    return _current


def reload() -> Settings:
    """Re-read the environment now."""
    global _raw
    _raw = None
    return _refresh()


def follow_environment(follow: bool) -> None:
    """Whether `get()` re-reads when a variable changed (costs one lookup per variable per call)."""
    global _follow
    _follow = follow


def _refresh() -> Settings:
    global _current, _raw
    raw = tuple(map(os.environ.get, ENV_NAMES))
    if _current is None or raw != _raw:
        _current, _raw = load(), raw
    return _current
