"""Submission, shared by every surface: price, charge and create tasks, then hand each to an upstream.

Two steps, because some tasks wait before they reach an upstream (a v1 start_time, a device slot):

- `create_tasks`: price every spec, reserve numeric ids, and write the tasks (NOT_START) in the
  charge transaction (store.tasks.create_charged): all or nothing. Nothing is written when the user
  cannot pay or no channel could take the task.
- `dispatch_to_upstream`: submit one NOT_START task to its channel(s) with failover
  (docs/architecture.md#providers-and-channels):
  429/5xx/timeouts/connection errors try the next channel; a 4xx refusal fails the task at once
  (never retried elsewhere). Success moves the task to SUBMITTED (or the upstream's state) with its
  upstream id and channel, and schedules its first poll. When every channel failed transiently:
  a waiting client sees the failure (and a relay submit's held task is withdrawn, below); a background
  dispatch (retry worker) leaves the task NOT_START with a backoff time in the poll index (`poll_due_v2`), and
  fails and refunds it after SUBMIT_MAX_RETRIES. A 401/403 (the channel's credential) and a URL the
  upstream gives that cannot be used (unparseable, another origin) are the channel's fault: fail over.
  What a user is shown (fail_reason, the error) is our own words, never the upstream's reply or the
  channel's URL, name or id; the details are logged (docs/decisions.md, "Outbound HTTP and upstream
  errors").

A relay submit (`submit_now`, the client waiting) writes its task *held* in the charge transaction
(store/held_create.hold_submit: `create_hold`, in the poll index, its deadline the hold's expiry,
SUBMIT_RESCUE_SECONDS): nothing dispatches it meanwhile. Accepted: the write recording
the upstream id also takes the hold off (the same one write as before). Refused (a 4xx, a refusal code, or every
channel failed): the task is withdrawn in one transaction that mirrors its charge, so the ledger holds no entry
for it and no balance moved. If the request dies in between, the poll dispatcher fails and refunds the task when
its hold expires (docs/decisions.md, "Money").

What the engine needs to resubmit later is kept on the task in `properties["_submit"]`
(payload, channel model filter, pinned channel, upstream parent id). Surfaces never show it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues, settings
from taskcenter.domain import channel_status, ids, pricing, states
from taskcenter.domain.errors import BadInput, NoChannel, UpstreamRejected, UpstreamUnavailable
from taskcenter.observability import logger, metrics
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    UpstreamError,
)
from taskcenter.services.core import channel_pin, platform_registry
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core.auth import Principal
from taskcenter.services.core.lifecycle import fail_task, move
from taskcenter.store import held_create
from taskcenter.store import tasks as task_store
from taskcenter.store.money import Payer
from taskcenter.store.repositories import REMOVE
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

SUBMIT_KEY = "_submit"
# A stored payload's list of the request fields it did not keep (images: sent from the request only, never
# stored; docs/midjourney.md "Large images", docs/video.md "Images"): the task cannot be submitted again.
IMAGES_NOT_KEPT = "images_not_kept"
SUBMITTED_STATES = frozenset({states.SUBMITTED, states.QUEUED, states.IN_PROGRESS, states.MODAL})
DRAINING_RECHECK_SECONDS = 300  # a task pinned to a disabled channel looks again this often


@dataclass(frozen=True)
class TaskSpec:
    """One task to create. `platform` is also the channel type (suno | midjourney | tikmatrix)."""

    platform: str
    kind: str  # listing family: "task" (/api/task, /api/v1/task) or "mj" (/api/mj)
    action: str  # surface action: MUSIC, LYRICS, IMAGINE, UPSCALE, post, follow, ...
    model_name: str  # pricing key: suno_music, mj_imagine, v1_post, ...
    payload: dict[str, Any]  # body for the upstream (SubmitRequest.payload), already validated
    properties: dict[str, Any] = field(default_factory=dict)  # request facts shown by the surfaces
    task_id: str = ""  # public id; generated per platform when empty
    numeric_id: int = 0  # reserved from the task sequence when 0
    channel_id: int = 0  # pin to one channel (MJ action on a parent task, a device's host); 0 = select
    channel_model: str = ""  # only channels serving this model ("" = any)
    upstream_parent_id: str = ""  # MJ actions: the parent task's upstream id
    start_at_ms: int | None = None  # None: dispatch now; else the engine starts it at that time
    fields: dict[str, Any] = field(default_factory=dict)  # other Task attributes (serial, account, source, ...)
    # payload field -> the property holding the same value (Suno's prompt is properties["input"]): stored
    # once, in properties, and put back into the payload at submission (docs/suno.md, "Limits and storage")
    payload_from_properties: dict[str, str] = field(default_factory=dict)
    # The price, when the surface computes it from the request (video: per second and resolution,
    # domain/video_pricing.py); None: model_name's price per call.
    quota: int | None = None


def price_of(spec: TaskSpec, group: str) -> int:
    if spec.quota is not None:
        return int(spec.quota)
    try:
        return pricing.quota_for(spec.model_name, group)
    except KeyError as error:
        raise BadInput(f"no price is configured for {spec.model_name}", field="model") from error


def _public_id(spec: TaskSpec, numeric_id: int) -> str:
    if spec.task_id:
        return spec.task_id
    if spec.platform == "midjourney":
        return ids.new_mj_task_id(clock.now_ms(), numeric_id)
    if spec.platform == "tikmatrix":
        return ids.v1_task_key(numeric_id)
    return ids.new_suno_task_id()


def _require_channel(spec: TaskSpec) -> None:
    """Refuse before charging when nothing could ever take the task."""
    if spec.channel_id:
        channel = channel_service.get_channel(spec.channel_id)
        if not channel_status.takes_new_tasks(channel):
            raise NoChannel("the channel this task needs is not available")  # its id is not the user's business
        return
    if not channel_service.failover_order(spec.platform, spec.channel_model):
        model = f" serving {spec.channel_model}" if spec.channel_model else ""
        raise NoChannel(f"no enabled {spec.platform} channel{model}")


def create_tasks(principal: Principal, specs: list[TaskSpec]) -> list[Task]:
    """Charge for and write the tasks, NOT_START, in one transaction. Returns them (saved)."""
    built = build_tasks(principal, specs)
    repositories().ledger.charge(Payer(principal.user_id, principal.token_hash), built)
    created(built)
    return built


def build_tasks(principal: Principal, specs: list[TaskSpec]) -> list[Task]:
    """Price the specs, reserve their numeric ids (one block) and build the tasks, unsaved. Refuses before
    anything is written when nothing could take them (NoChannel) or a price is missing."""
    if not specs:
        raise BadInput("nothing to submit")
    for spec in {(s.platform, s.channel_model, s.channel_id): s for s in specs}.values():
        _require_channel(spec)
    prices = [price_of(spec, principal.group) for spec in specs]
    missing = [i for i, spec in enumerate(specs) if not spec.numeric_id]
    reserved = iter(repositories().counters.allocate_ids("task", len(missing))) if missing else iter(())
    built: list[Task] = []
    for spec, price in zip(specs, prices, strict=True):
        numeric_id = spec.numeric_id or next(reserved)
        shared = {name: prop for name, prop in spec.payload_from_properties.items()
                  if name in spec.payload and spec.properties.get(prop) == spec.payload[name]}
        submit_facts = {
            "payload": {name: value for name, value in spec.payload.items() if name not in shared},
            "channel_model": spec.channel_model,
            "pinned_channel": spec.channel_id,
            "upstream_parent_id": spec.upstream_parent_id,
            **({"from_properties": shared} if shared else {}),
        }
        task = task_store.build_task(
            task_id=_public_id(spec, numeric_id),
            numeric_id=numeric_id,
            kind=spec.kind,
            platform=spec.platform,
            user_id=principal.user_id,
            username=principal.username,
            action=spec.action,
            channel_id=spec.channel_id,
            quota=price,
            model_name=spec.model_name,
            group=principal.group,
            key_hash=principal.token_hash,
            properties={**spec.properties, SUBMIT_KEY: submit_facts},
            **spec.fields,
        )
        # A deferred task waits for its start time; every other task is also due a little later, as a
        # safety net: if this request dies between the charge and the upstream call, the dispatcher finds
        # the task still NOT_START and the retry worker submits it (a submitted task's poll time replaces it).
        rescue_at = clock.now_ms() + settings.get().submit_rescue_seconds * 1000
        task_store.schedule_poll(task, spec.start_at_ms if spec.start_at_ms is not None else rescue_at)
        built.append(task)
    return built


def created(tasks: list[Task]) -> None:
    """Count and log tasks just written."""
    if tasks:
        metrics.add_metric(name="TasksSubmitted", unit="Count", value=len(tasks))
    for task in tasks:
        logger.info("task created", extra={"task_id": task.task_id, "platform": task.platform,
                                           "action": task.action, "quota": int(task.quota)})


def submit_now(principal: Principal, spec: TaskSpec, *, payload: dict[str, Any] | None = None) -> Task:
    """The relays' path: create one task and submit it while the client waits.

    `payload`: what to send upstream when it differs from what the task stores (the MJ relay keeps
    request images out of the item: docs/midjourney.md, "Large images").

    The task is written held (see the module doc). Raises NoChannel, UpstreamRejected / UpstreamUnavailable:
    nothing charged, no task left (withdrawn); only if the withdrawal lost a race with the sweeper does the
    task exist (FAILURE, refunded once) and the error carry its `task_id`.
    """
    task = build_tasks(principal, [channel_pin.apply(principal, spec)])[0]  # sk-KEY-<channel id>
    now = clock.now_ms()
    held_create.hold_submit(task, now + settings.get().submit_rescue_seconds * 1000,
                            due_ms=now + settings.get().first_poll_seconds * 1000)
    repositories().ledger.charge(Payer(principal.user_id, principal.token_hash), [task])
    created([task])
    return dispatch_to_upstream(task, client_waiting=True, payload=payload)


def submit_facts(task: Task) -> dict[str, Any]:
    facts = (task.properties or {}).get(SUBMIT_KEY)
    return facts if isinstance(facts, dict) else {}


def pinned_channel_disabled(task: Task) -> bool:
    pinned = int(submit_facts(task).get("pinned_channel") or 0)
    channel = channel_service.get_channel(pinned) if pinned else None
    return channel_status.is_draining(channel)


def upstream_payload(task: Task) -> dict[str, Any]:
    """The body for the upstream: the stored payload with the fields kept only in properties put back."""
    facts, props = submit_facts(task), task.properties or {}
    shared = facts.get("from_properties") or {}
    restored = {name: props[prop] for name, prop in shared.items() if prop in props}
    return {**restored, **dict(facts.get("payload") or {})}


def candidate_channels(task: Task) -> list[ChannelInfo]:
    """Failover order for this task; a background retry starts one channel further along."""
    facts = submit_facts(task)
    pinned = int(facts.get("pinned_channel") or 0)
    if pinned:
        channel = channel_service.get_channel(pinned)
        usable = channel_service.usable(channel) if channel_status.takes_new_tasks(channel) else None
        return [usable] if usable is not None else []
    # Seeded by the task id: weighted-random across tasks, but one stable order per task, so the
    # rotation below really moves a background retry to the next channel.
    order = channel_service.failover_order(task.platform, str(facts.get("channel_model") or ""),
                                           rng=random.Random(task.task_id))
    if order:
        shift = int(task.submit_attempts or 0) % len(order)
        order = order[shift:] + order[:shift]
    return order[:settings.get().submit_channel_attempts]


def _cannot_submit(task: Task, reason: str, *, client_waiting: bool) -> Task:
    """The task cannot be submitted: the waiting client is refused (withdrawn, nothing charged), else it fails."""
    if client_waiting:
        raise _refused(task, reason, UpstreamRejected(reason))
    fail_task(task, reason)
    return task


def dispatch_to_upstream(task: Task, *, client_waiting: bool, payload: dict[str, Any] | None = None) -> Task:
    """Submit a NOT_START task to an upstream (see the module doc). Returns the task as it now is.

    A task past NOT_START is returned untouched (duplicate retry messages are harmless).
    """
    if task.status != states.NOT_START:
        return task
    channels = candidate_channels(task)
    if not channels and not client_waiting and pinned_channel_disabled(task):
        # Its channel (a device's host) is drained: it waits, keeping its submission retries and taking no
        # admission slot (found by hostile testing); deleting the channel or the sweeper fails it (docs/admin.md)
        _defer(task, DRAINING_RECHECK_SECONDS * 1000)
        return task
    row = platform_registry.platform(task.platform)
    admission = row.admission if row is not None else None
    if admission is not None:
        wait_ms = int(admission(task))
        if wait_ms > 0:
            _defer(task, wait_ms)
            return task
    facts = submit_facts(task)
    request = SubmitRequest(task_id=task.task_id, action=task.action,
                            payload=payload if payload is not None else upstream_payload(task),
                            upstream_parent_id=str(facts.get("upstream_parent_id") or ""),
                            user_id=int(task.user_id or 0))
    if request.payload.get(IMAGES_NOT_KEPT):  # a resubmission from the stored task: its images are gone
        return _cannot_submit(task, "upstream refused the task: the request's images were not kept; submit it "
                              "again", client_waiting=client_waiting)
    last_error: UpstreamError | None = None  # the refusing caller may relay its reply (the MJ relay's 23)
    for channel in channels:
        try:
            result = platform_registry.provider_for(channel).submit(request)
        except PermanentUpstreamError as error:
            # What the user sees is our words only (error.public); the upstream's reply stays in the log.
            reason = f"upstream refused the task: {error.public}"
            logger.info("submission refused", extra={"task_id": task.task_id, "channel_id": channel.id,
                                                      "status": error.status, "reason": error.message})
            if client_waiting:
                raise _refused(task, reason, UpstreamRejected(reason)) from error
            fail_task(task, reason)
            return task
        except UpstreamError as error:  # transient: 429/5xx/401/403, network, unusable URL, garbage
            logger.warning("submission failed, trying next channel",
                           extra={"task_id": task.task_id, "channel_id": channel.id, "status": error.status,
                                  "error": type(error).__name__, "reason": error.message})
            last_error = error
            continue
        _mark_submitted(task, channel, result.upstream_id, result.status, result.extra)
        return task
    reason = "every channel failed (upstream unavailable)" if channels else "no enabled channel can take this task"
    if client_waiting:
        error_cls = UpstreamUnavailable if channels else NoChannel
        raise _refused(task, reason, error_cls(reason)) from last_error
    attempts = int(task.submit_attempts or 0) + 1
    if attempts > settings.get().submit_max_retries:
        fail_task(task, reason)
        return task
    _defer(task, backoff_ms(attempts), submit_attempts=attempts)
    return task


def _refused(task: Task, reason: str, error: Exception) -> Exception:
    """A refusal while the client waits: withdraw the held task (no ledger entry, no balance moved), else (not
    held, or the sweeper failed it first) fail it and refund it in this request, exactly once, and name it."""
    if task.create_hold == held_create.SUBMIT_HOLD and repositories().ledger.withdraw_submit(task):
        logger.info("refused submit withdrawn", extra={"task_id": task.task_id, "reason": reason})
        return error
    repositories().tasks.refresh(task)
    if not fail_task(task, reason, refund_now=True) and task.billing == states.BILLING_REFUND_PENDING:
        repositories().ledger.refund(task.task_id, int(task.attempt))  # the sweeper's queued refund, now
        repositories().tasks.refresh(task)
    return _with_task(error, task)


def backoff_ms(attempt: int, *, rng: random.Random | None = None) -> int:
    """Exponential backoff with full jitter in [base/2, base] (base: 10 s doubling, capped at 10 min)."""
    base = min(10_000 * (2 ** max(0, attempt - 1)), 600_000)
    return int(base * (0.5 + 0.5 * (rng or random).random()))


def _defer(task: Task, wait_ms: int, **counters_set: int) -> None:
    repositories().tasks.hold_until(task, clock.now_ms() + max(1, int(wait_ms)),
                                    submit_attempts=counters_set.get("submit_attempts"))


def _mark_submitted(task: Task, channel: ChannelInfo, upstream_id: str, upstream_status: str,
                    extra: dict[str, Any]) -> None:
    now = clock.now_ms()
    status = upstream_status if upstream_status in SUBMITTED_STATES else states.SUBMITTED
    changes: dict[str, Any] = {"upstream_id": upstream_id, "poll_shard": task_store.shard_for(task.task_id),
                               "next_poll_at": now + settings.get().first_poll_seconds * 1000, "poll_misses": 0}
    if task.create_hold == held_create.SUBMIT_HOLD:  # released in this same write (module doc): its real deadline,
        changes.update(create_hold=REMOVE, due_at=task_store.deadline_after(int(task.submit_ms)))  # the dispatcher's
        if task.next_poll_at is not None:  # (a hold written before hold_submit has none: it gets one here)
            del changes["next_poll_at"]  # due since the charge already: its index entry stays as it is
    elif task.due_at is not None and not task.due_lane and task_store.deadline_after(now) > int(task.due_at):
        # it waited (behind its device, a scheduled start, retries): its time limit counts from now, when the
        # upstream gets it (found by hostile testing: a v1 task started at +23 h 50 min timed out at +24 h while
        # its host ran it); not in a `due` lane, so no index entry is re-keyed
        changes["due_at"] = task_store.deadline_after(now)
    if status == states.IN_PROGRESS:
        changes["start_ms"] = now
    if extra:
        changes["extra"] = {**extra_of(task), **extra}
    if not move(task, status, changes, channel_id=channel.id):
        logger.warning("task moved while submitting; upstream task may be orphaned",
                       extra={"task_id": task.task_id, "upstream_id": upstream_id, "channel_id": channel.id})
        repositories().tasks.refresh(task)
        return
    logger.info("task submitted", extra={"task_id": task.task_id, "channel_id": channel.id,
                                         "upstream_id": upstream_id, "status": status})
    # A first poll a few seconds out, so a quick task is seen done well before the next dispatcher minute.
    try:
        queues.send("poll", {"channel_id": channel.id, "task_ids": [task.task_id], "chain": 0},
                    delay_seconds=settings.get().first_poll_seconds)
    except Exception:  # the dispatcher finds the task through next_poll_at anyway
        logger.warning("first poll enqueue failed", extra={"task_id": task.task_id})


def extra_of(task: Task) -> dict[str, Any]:
    """The task's free-form `extra` map as a plain dict (PynamoDB may hand back a MapAttribute)."""
    value = task.extra
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value)


def _with_task(error: Exception, task: Task) -> Exception:
    error.task_id = task.task_id  # type: ignore[attr-defined]
    return error
