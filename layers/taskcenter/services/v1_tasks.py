"""Task API v1 (TikMatrix task API, tikmatrix-task-api.md): create, list, get, stop, delete, stats, license.

v1 tasks are ordinary tasks (kind "task", platform "tikmatrix", action = script_name, serial = device)
keyed `v1_<numeric id>` so a GET by id is one GetItem. A user only ever sees their own tasks: another
user's id answers 40401 exactly like a missing one. docs/task-api-v1.md records every decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskcenter import clock, queues, script_secrets
from taskcenter.domain import listing, numbers, states
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import DomainError, NotFound
from taskcenter.domain.ids import v1_task_key
from taskcenter.observability import logger
from taskcenter.providers.base import UpstreamError, provider_for
from taskcenter.services import channels as channel_service
from taskcenter.services import listings, submission
from taskcenter.services.auth import Principal
from taskcenter.services.lifecycle import fail_task
from taskcenter.store import money, v1_records
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Channel, Task

PLATFORM = "tikmatrix"
KIND = "task"
STOPPED = "stopped"
MAX_BATCH_DELETE = 100
# TransactWriteItems takes 100 items. A chunk of tasks costs: user + key (2), per task a put and a ledger
# entry (2), per new device its two device-scope counters (2), and the shared scope counters (user, plan
# and action scopes: 6; admin scopes: up to 4 shards x 4 scopes x 2 = 32).
_TX_LIMIT, _TX_FIXED = 100, 2 + 6 + 32


# ---------------------------------------------------------------- access
def require_api(principal: Principal) -> rules.Plan:
    """Every v1 route: the plan must include API access (Starter: 40301)."""
    plan = rules.plan_of(principal.plan)
    if not plan.api_enabled:
        raise rules.no_api_access(plan)
    return plan


def license_info(principal: Principal) -> dict[str, Any]:
    plan = rules.plan_of(principal.plan)
    return {"plan_name": plan.name, "api_enabled": plan.api_enabled, "device_limit": plan.device_limit,
            "message": rules.license_message(plan)}


def parse_task_id(raw: Any, name: str = "task_id") -> int:
    """A v1 task id: a positive integer (a JSON number, or its digits in a path)."""
    if isinstance(raw, bool):
        raise rules.bad(f"{name} must be a positive integer", name)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and numbers.is_ascii_int(raw):  # ASCII digits only: "²" / "٣" are refused
        value = int(raw)
    else:
        raise rules.bad(f"{name} must be a positive integer", name)
    if value < 1:
        raise rules.bad(f"{name} must be a positive integer", name)
    return value


def not_found(numeric_id: int) -> NotFound:
    return NotFound(f"task {numeric_id} not found")


def own_task(principal: Principal, numeric_id: int) -> Task:
    """The caller's v1 task (one consistent GetItem); anyone else's, or none: 40401."""
    task = task_store.get(v1_task_key(numeric_id))
    if task is None or int(task.user_id) != principal.user_id or task.platform != PLATFORM:
        raise not_found(numeric_id)
    return task


# ---------------------------------------------------------------- hosts
@dataclass(frozen=True)
class Placement:
    channel_id: int
    serial: str
    account: str


def _hosts() -> list[Channel]:
    rows = [c for c in channel_service._channels_of_type(PLATFORM) if int(c.status) == 1]
    return sorted(rows, key=lambda c: (-int(c.priority), int(c.id)))


def place(serials: list[str], usernames: list[str]) -> dict[str, Placement]:
    """Which host serves each device (or account). Account entries are `name` or `name@serial`."""
    hosts = _hosts()
    out: dict[str, Placement] = {}
    for serial in serials:
        for host in hosts:
            if serial in (host.devices or []):
                out[serial] = Placement(int(host.id), serial, "")
                break
        else:
            raise rules.bad(f"device {serial[:64]!r} is not connected to any TikMatrix host", "serials")
    for name in usernames:
        bare = name.lstrip("@")
        for host in hosts:
            match = next((a for a in (host.accounts or []) if a.split("@", 1)[0] == bare), None)
            if match is not None:
                out[name] = Placement(int(host.id), match.split("@", 1)[1] if "@" in match else "", bare)
                break
        else:
            raise rules.bad(f"account {name[:64]!r} is not known to any TikMatrix host", "usernames")
    return out


# ---------------------------------------------------------------- create
def _chunks(specs: list[submission.TaskSpec]) -> list[list[submission.TaskSpec]]:
    chunks: list[list[submission.TaskSpec]] = []
    current: list[submission.TaskSpec] = []
    devices: set[str] = set()
    for spec in specs:
        device = str(spec.fields.get("serial") or "@" + str(spec.fields.get("account")))
        cost = 2 + (0 if device in devices else 2)
        used = _TX_FIXED + 2 * len(current) + 2 * len(devices)
        if current and used + cost > _TX_LIMIT:
            chunks.append(current)
            current, devices = [], set()
        current.append(spec)
        devices.add(device)
    if current:
        chunks.append(current)
    return chunks


def create(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Validate, fan out, charge and write the tasks; start the immediate ones through the retry queue.

    All or nothing: a request too large for one transaction is written in chunks; if a later chunk
    cannot be paid (quota ran out, key disabled), the tasks already written are failed, refunded and
    deleted before the error is returned, so the user is left with no task and no charge.
    """
    plan = rules.plan_create(body)
    now = clock.now_ms()
    start_at = rules.resolve_start_time(plan.start_time_raw, principal.timezone, now)
    start_ms = int(start_at.timestamp() * 1000) if start_at else 0
    placements = place(plan.serials, plan.usernames)
    plan = script_secrets.seal_plan(plan, principal.user_id)  # secrets never stored in plain text (task-api-v1.md)
    specs = []
    for planned in plan.tasks:
        where = placements[planned.serial or planned.account]
        serial = planned.serial or where.serial
        account = planned.account or where.account
        payload = {"serial": serial if planned.serial else "", "account": account if not planned.serial else "",
                   "script_name": plan.script.name, "script_config": planned.script_config,
                   "enable_multi_account": plan.enable_multi_account}
        properties = {"script_config": planned.script_config, "enable_multi_account": plan.enable_multi_account,
                      "start_time": start_at.isoformat(timespec="seconds") if start_at else None}
        if planned.target:
            properties["target"] = planned.target
        specs.append(submission.TaskSpec(
            platform=PLATFORM, kind=KIND, action=plan.script.name, model_name=f"v1_{plan.script.name}",
            payload=payload, properties=properties, channel_id=where.channel_id,
            start_at_ms=start_ms or now,
            fields={"serial": serial, "account": account, "source": "api", "scheduled_ms": start_ms},
        ))
    chunks = _chunks(specs)
    if len(chunks) > 1:
        precheck_quota(principal, specs)
    created: list[Task] = []
    try:
        for chunk in chunks:
            created.extend(submission.create_tasks(principal, chunk))
    except DomainError:
        _undo_created(created)
        raise
    if not start_ms:
        start_now(created)
    data: dict[str, Any] = {"task_ids": [int(t.id) for t in created], "created_count": len(created)}
    if start_at:
        data["start_time"] = start_at.isoformat(timespec="seconds")
    return data


def precheck_quota(principal: Principal, specs: list[submission.TaskSpec]) -> None:
    """Before a chunked create: refuse at once when the user plainly cannot pay for all of it (the
    chunks' own conditions still decide; this only spares writing and undoing the first chunks)."""
    from taskcenter.domain.errors import InsufficientQuota
    from taskcenter.store.models import User

    total = sum(submission.price_of(spec, principal.group) for spec in specs)
    if int(User.get(principal.user_id, consistent_read=True).quota) < total:
        raise InsufficientQuota(f"user quota is not enough for {len(specs)} tasks ({total} needed)")


def start_now(tasks: list[Task]) -> None:
    """Hand NOT_START tasks to the retry worker (which asks admission, then submits). If the send fails,
    the dispatcher finds them anyway: their next_poll_at is now."""
    bodies = [{"task_id": t.task_id, "attempt": int(t.attempt), "reason": "start"} for t in tasks]
    try:
        queues.send_many("retry", bodies)
    except Exception:
        logger.warning("v1 start enqueue failed; the dispatcher will start them", extra={"count": len(bodies)})


def _undo_created(tasks: list[Task]) -> None:
    for task in tasks:
        try:
            fail_task(task, "not created: the request could not be paid in full", refund_now=True)
            task.refresh(consistent_read=True)
            remove(task)
        except Exception:
            logger.exception("undoing a partly paid v1 create failed", extra={"task_id": task.task_id})


# ---------------------------------------------------------------- views
def view(task: Task, tz: str) -> dict[str, Any]:
    props = task.properties or {}
    public = {k: v for k, v in props.items() if not k.startswith("_")}
    return {
        "id": int(task.id),
        "serial": task.serial or "",
        "username": task.account or "",
        "script_name": task.action,
        "script_config": script_secrets.mask(public.get("script_config") or {}),
        "enable_multi_account": bool(public.get("enable_multi_account")),
        "status": rules.v1_status(task.status),
        "source": task.source or "api",
        "start_time": rules.iso(int(task.scheduled_ms or 0), tz),
        "retry_count": int(task.retry_count or 0),
        "error": task.fail_reason or "" if task.status == states.FAILURE else "",
        "result": task.data if task.data else None,
        "created_at": rules.iso(int(task.submit_ms), tz),
        "started_at": rules.iso(int(task.start_ms or 0), tz),
        "finished_at": rules.iso(int(task.finish_ms or 0), tz),
    }


def get(principal: Principal, numeric_id: int) -> dict[str, Any]:
    return view(own_task(principal, numeric_id), principal.timezone)


# ---------------------------------------------------------------- list and stats
LIST_STATUS = {0: states.NOT_START, 1: states.IN_PROGRESS, 2: states.SUCCESS, 3: states.FAILURE}


def list_tasks(principal: Principal, params: dict[str, str | None]) -> dict[str, Any]:
    status = listings.parse_int(params.get("status"), "status")
    if status is not None and status not in LIST_STATUS:
        raise rules.bad("status must be 0 (pending), 1 (running), 2 (completed) or 3 (failed)", "status")
    serial = (params.get("serial") or "").strip() or None
    if serial is not None and len(serial) > 128:
        raise rules.bad("serial must be at most 128 characters", "serial")
    script = (params.get("script_name") or "").strip() or None
    if script is not None and script not in rules.SCRIPTS:
        raise rules.bad(f"script {script[:64]!r} is not supported", "script_name", rules.CODE_UNSUPPORTED_SCRIPT)
    source = (params.get("source") or "").strip() or None
    if source is not None and source not in ("ui", "api"):
        raise rules.bad('source must be "ui" or "api"', "source")
    page = listings.parse_int(params.get("page"), "page")
    size = listings.parse_int(params.get("page_size"), "page_size")
    if (page is not None and page < 0) or (size is not None and size < 0):
        raise rules.bad("page and page_size must be positive integers", "page" if (page or 0) < 0 else "page_size")
    page = max(1, page or 1)
    size = min(listings.MAX_PAGE_SIZE, size or listings.DEFAULT_PAGE_SIZE)
    if source == "ui":
        tasks, total = [], 0  # every task of this service is created through the API
    else:
        # A serial or a script name implies the platform (only v1 tasks have serials; script names are not
        # actions of other platforms): leaving it out keeps `total` on the counters, not a COUNT query.
        platform = None if (serial or script) else PLATFORM
        filters = listing.ListingFilters(kind=KIND, user_id=principal.user_id, platform=platform, action=script,
                                         status=LIST_STATUS[status] if status is not None else None,
                                         serial=serial)
        tasks, total = listings.list_tasks(filters, page, size)
    return {"tasks": [view(t, principal.timezone) for t in tasks], "total": total, "page": page,
            "page_size": size}


def _scope(user_id: int) -> str:
    return f"u#{user_id}#{KIND}#p#{PLATFORM}"


def count_by_status(user_id: int, statuses: tuple[str, ...]) -> int:
    from taskcenter.store import counters

    return counters.read_sum([n for s in statuses for n in listing.counter_names_for_read("lup", _scope(user_id), s)])


def stats(principal: Principal) -> dict[str, int]:
    """From the listing counters (one BatchGetItem), never by reading tasks."""
    names = {s: listing.counter_names_for_read("lup", _scope(principal.user_id), s)[0]
             for s in ("ALL", states.NOT_START, *rules.RUNNING_STATES, states.SUCCESS, states.FAILURE)}
    values = v1_records.read_values(names.values())
    got = {s: values.get(n, 0) for s, n in names.items()}
    return {"total": got["ALL"], "pending": got[states.NOT_START],
            "running": sum(got[s] for s in rules.RUNNING_STATES), "completed": got[states.SUCCESS],
            "failed": got[states.FAILURE]}


# ---------------------------------------------------------------- stop and delete
def stop(principal: Principal, numeric_id: int) -> dict[str, Any]:
    task = own_task(principal, numeric_id)
    if task.status in states.TERMINAL:
        raise rules.bad(f"task {numeric_id} has already finished (status {rules.v1_status(task.status)})",
                        "task_id")
    stop_task(task)
    return view(task, principal.timezone)


def stop_task(task: Task) -> None:
    """Pending: cancelled at once. Running: stopped at the host where it can, then FAILURE "stopped",
    refunded in this request. A task that moves while we stop it is looked at again (a few times)."""
    for _ in range(4):
        if task.status in states.TERMINAL:
            return
        if task.status != states.NOT_START:
            _cancel_at_host(task)
        if fail_task(task, STOPPED, refund_now=True):
            logger.info("v1 task stopped", extra={"task_id": task.task_id})
            return
        task.refresh(consistent_read=True)
    raise DomainError("the task kept changing while being stopped; try again", code="conflict")


def _cancel_at_host(task: Task) -> None:
    if not task.upstream_id or not int(task.channel_id or 0):
        return
    channel = channel_service.get_channel(int(task.channel_id))
    if channel is None:
        return
    try:
        stopped = provider_for(channel_service.info(channel)).cancel(task.upstream_id)
        logger.info("v1 stop at host", extra={"task_id": task.task_id, "stopped": stopped})
    except UpstreamError as error:  # unreachable host: we stop on our side; the host may finish its run
        logger.warning("v1 stop at host failed", extra={"task_id": task.task_id, "reason": error.message})


def delete(principal: Principal, numeric_id: int) -> None:
    task = own_task(principal, numeric_id)
    stop_task(task)
    remove(task)


def batch_delete(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("task_ids")
    if not isinstance(raw, list) or not raw:
        raise rules.bad("task_ids must be a non-empty array of task ids", "task_ids")
    if len(raw) > MAX_BATCH_DELETE:
        raise rules.bad(f"task_ids accepts at most {MAX_BATCH_DELETE} ids", "task_ids")
    ids = list(dict.fromkeys(parse_task_id(v, "task_ids") for v in raw))
    deleted, missing = [], []
    for numeric_id in ids:
        try:
            delete(principal, numeric_id)
            deleted.append(numeric_id)
        except NotFound:
            missing.append(numeric_id)
    return {"deleted_count": len(deleted), "deleted_ids": deleted, "not_found_ids": missing}


def remove(task: Task) -> None:
    """Delete a finished task and take it out of the counters, in one transaction (conditional on the
    version read). An owed refund is settled first, so deleting never loses money."""
    from taskcenter.services import v1_admission

    for _ in range(4):
        if task.status not in states.TERMINAL:
            raise DomainError("only a finished task can be removed", code="conflict")
        if task.billing == states.BILLING_REFUND_PENDING:
            money.refund_task(task.task_id, int(task.attempt))
        elif v1_records.delete_finished(task):
            v1_admission.release(task, wake=True)
            return
        task.refresh(consistent_read=True)
    raise DomainError("the task kept changing while being deleted; try again", code="conflict")
