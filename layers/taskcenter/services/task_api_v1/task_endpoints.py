"""Task API v1 (TikMatrix task API, tikmatrix-task-api.md): create, list, get, stop, delete, stats, license.

v1 tasks are ordinary tasks (kind "task", platform "tikmatrix", action = script_name, serial = device)
keyed `v1_<numeric id>` so a GET by id is one GetItem. A user only ever sees their own tasks: another
user's id answers 40401 exactly like a missing one. docs/task-api-v1.md records every decision.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues, script_secrets
from taskcenter.domain import listing_plan as listing
from taskcenter.domain import numbers, states, v1_start_time
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import Conflict, DomainError, NotFound
from taskcenter.domain.ids import v1_task_key
from taskcenter.observability import logger
from taskcenter.providers.base import UpstreamError
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import listing_executor as listings
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.core.lifecycle import fail_task
from taskcenter.services.core.platform_registry import fetch_states, provider_for
from taskcenter.services.core.upstream_state import apply_upstream_state
from taskcenter.store import money, repositories, v1_records
from taskcenter.store import tasks as task_store

if TYPE_CHECKING:
    from taskcenter.store.models import Task

PLATFORM = "tikmatrix"
KIND = "task"
STOPPED = "stopped"
MAX_BATCH_DELETE = 100
V1_CONFLICT = 40901  # HTTP 409 in the v1 envelope (functions/_http.V1_CODES; docs/compatibility.md)


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
    if not owns(principal, task, platform=PLATFORM):
        raise not_found(numeric_id)
    return task


def start_now(tasks: list[Task]) -> None:
    """Hand NOT_START tasks to the retry worker (which asks admission, then submits). If the send fails,
    the dispatcher finds them anyway: their next_poll_at is now."""
    bodies = [{"task_id": t.task_id, "attempt": int(t.attempt), "reason": "start"} for t in tasks]
    try:
        queues.send_many("retry", bodies)
    except Exception:
        logger.warning("v1 start enqueue failed; the dispatcher will start them", extra={"count": len(bodies)})


# ---------------------------------------------------------------- views
def event_data(task: Task) -> dict[str, Any]:
    """A task event's `data` fields as the Task API names them (services/platforms.py): `task_id` is the numeric
    id `GET /api/v1/task/{id}` takes (the stored `v1_<id>` is refused there; found by hostile testing), and the
    device and account it ran on."""
    return {"task_id": int(task.id), "serial": task.serial or "", "username": task.account or ""}


def view(task: Task, tz: str) -> dict[str, Any]:
    """A task object with every field the desktop UI reads (tikmatrix-scripts.md §6; docs/task-api-v1.md,
    "Task objects"): `start_time` is the actual start once running (the scheduled one before), `end_time`
    the finish, both "YYYY-MM-DD HH:MM:SS" in the user's zone; `script_args` the JSON string the UI parses."""
    props = task.properties or {}
    public = {k: v for k, v in props.items() if not k.startswith("_")}
    config = script_secrets.mask(public.get("script_config") or {})
    start_ms, finish_ms = int(task.start_ms or 0), int(task.finish_ms or 0)
    failed = task.status == states.FAILURE
    duration = max(0, ((finish_ms or clock.now_ms()) - start_ms) // 1000) if start_ms else None
    remark = task.fail_reason or "" if failed else ""
    if not remark and isinstance(task.data, dict) and isinstance(task.data.get("remark"), str):
        remark = task.data["remark"]
    out = {
        "id": int(task.id),
        "serial": task.serial or "",
        "username": task.account or "",
        "script_name": task.action,
        "script_config": config,
        "script_args": json.dumps({**config, "username": task.account or ""}, ensure_ascii=False),
        "enable_multi_account": bool(public.get("enable_multi_account")),
        "status": rules.v1_status(task.status),
        "source": task.source or "api",
        "start_time": v1_start_time.wall(start_ms or int(task.scheduled_ms or 0), tz),
        "end_time": v1_start_time.wall(finish_ms, tz),
        "scheduled_at": v1_start_time.iso(int(task.scheduled_ms or 0), tz),
        "retry_count": int(task.retry_count or 0),
        "remark": remark,
        "error": task.fail_reason or "" if failed else "",
        "result": task.data if task.data else None,
        "created_at": v1_start_time.iso(int(task.submit_ms), tz),
        "started_at": v1_start_time.iso(start_ms, tz),
        "finished_at": v1_start_time.iso(finish_ms, tz),
        "duration_seconds": duration,
    }
    for name in ("min_interval", "max_interval"):
        if public.get(name) is not None:
            out[name] = public[name]
    return out


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
    from taskcenter.store import counters

    names = {s: listing.counter_names_for_read("lup", _scope(principal.user_id), s)[0]
             for s in ("ALL", states.NOT_START, *rules.RUNNING_STATES, states.SUCCESS, states.FAILURE)}
    values = counters.read_many(list(names.values()))  # one item: the scope's counters (store/counters.py)
    got = {s: values[n].total if n in values else 0 for s, n in names.items()}
    return {"total": got["ALL"], "pending": got[states.NOT_START],
            "running": sum(got[s] for s in rules.RUNNING_STATES), "completed": got[states.SUCCESS],
            "failed": got[states.FAILURE]}


# ---------------------------------------------------------------- stop and delete
def stop(principal: Principal, numeric_id: int) -> dict[str, Any]:
    task = own_task(principal, numeric_id)
    if task.status in states.TERMINAL:
        raise rules.bad(f"task {numeric_id} has already finished (status {rules.v1_status(task.status)})",
                        "task_id")
    try:
        stop_task(task)
    except v1_records.TaskGone as error:  # deleted while we stopped it: as if the stop came after the delete
        raise not_found(numeric_id) from error
    if task.status == states.SUCCESS:  # the host had finished it before the stop (its charge stands)
        raise rules.bad(f"task {numeric_id} has already finished (status {rules.v1_status(task.status)})",
                        "task_id")
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
        repositories.current().tasks.refresh(task)
    raise Conflict("the task kept changing while being stopped; try again")


def _cancel_at_host(task: Task) -> None:
    if not task.upstream_id or not int(task.channel_id or 0):
        return
    channel = channel_service.get_channel(int(task.channel_id))
    if channel is None:
        return
    info = channel_service.info(channel)
    try:
        stopped = provider_for(info).cancel(task.upstream_id)
        logger.info("v1 stop at host", extra={"task_id": task.task_id, "stopped": stopped})
        if not stopped:  # finished (or unknown) there: what the host says of it wins over our stop
            state = fetch_states(info, [task.upstream_id]).get(task.upstream_id)
            if state is not None:
                apply_upstream_state(task, state)  # SUCCESS keeps the charge; FAILURE is refunded as any
    except UpstreamError as error:  # unreachable host: we stop on our side; the host may finish its run
        logger.warning("v1 stop at host failed", extra={"task_id": task.task_id, "reason": error.message})


def delete(principal: Principal, numeric_id: int) -> None:
    """Stop (if needed), settle and delete. A delete that loses a race with another delete of the same task
    answers 40401, exactly as if it had come after it (docs/task-api-v1.md, "Stop, delete")."""
    task = own_task(principal, numeric_id)
    try:
        stop_task(task)
        remove(task)
    except v1_records.TaskGone as error:
        raise not_found(numeric_id) from error


def batch_delete(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Each id on its own: deleted, not found (also: another user's, or deleted meanwhile), or failed with
    the code and message a single delete would answer. One id failing never stops the others."""
    raw = body.get("task_ids")
    if not isinstance(raw, list) or not raw:
        raise rules.bad("task_ids must be a non-empty array of task ids", "task_ids")
    if len(raw) > MAX_BATCH_DELETE:
        raise rules.bad(f"task_ids accepts at most {MAX_BATCH_DELETE} ids", "task_ids")
    ids = list(dict.fromkeys(parse_task_id(v, "task_ids") for v in raw))
    deleted: list[int] = []
    missing: list[int] = []
    failed: list[dict[str, Any]] = []
    for numeric_id in ids:
        try:
            delete(principal, numeric_id)
            deleted.append(numeric_id)
        except NotFound:
            missing.append(numeric_id)
        except DomainError as error:
            failed.append({"task_id": numeric_id, "code": V1_CONFLICT if isinstance(error, Conflict) else 40001,
                           "message": error.message})
        except Exception:
            logger.exception("v1 batch delete: one id failed", extra={"numeric_id": numeric_id})
            failed.append({"task_id": numeric_id, "code": 50001, "message": "internal error; try again"})
    return {"deleted_count": len(deleted), "deleted_ids": deleted, "not_found_ids": missing, "failed": failed}


def remove(task: Task) -> None:
    """Delete a finished task and take it out of the counters, in one transaction (conditional on the
    version read). An owed refund is settled first, so deleting never loses money."""
    from taskcenter.services.task_api_v1 import admission as v1_admission

    for _ in range(4):
        if task.status not in states.TERMINAL:
            raise Conflict("only a finished task can be removed")
        if task.billing == states.BILLING_REFUND_PENDING:
            if money.refund_task(task.task_id, int(task.attempt)):
                task.refresh(consistent_read=True)  # its event: from the stream (docs/webhooks.md)
        elif v1_records.delete_finished(task):
            v1_admission.release(task, wake=True)
            return
        repositories.current().tasks.refresh(task)
    raise Conflict("the task kept changing while being deleted; try again")
