"""Task API v1 create (`POST /api/v1/task`): validate, place on hosts, fan out, charge, write, start.

All or nothing as the client sees it (docs/task-api-v1.md, "Create"): a create that fits one transaction is
one transaction. A larger one (up to 1,000 tasks) is checked against the user's and the key's quota first,
then written in chunks sized from their real transaction items, every task *held* (nothing dispatches it)
until the last chunk committed; then released and started. A chunk refused part-way (quota spent
meanwhile, key disabled) withdraws the chunks already written (refunded and deleted, each re-read if it
moved) before the refusal is answered; what cannot be withdrawn is never answered as refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskcenter import clock, script_secrets, settings
from taskcenter.domain import channel_status, states, v1_start_time
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import DomainError, Forbidden, InsufficientQuota
from taskcenter.observability import logger
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import submission
from taskcenter.services.core.auth import Principal
from taskcenter.services.task_api_v1 import admission as v1_admission
from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks
from taskcenter.store import held_create, repositories
from taskcenter.store import tasks as task_store
from taskcenter.store.money import Payer

if TYPE_CHECKING:
    from taskcenter.store.models import Channel, Task

PLATFORM, KIND = v1_tasks.PLATFORM, v1_tasks.KIND


class CreateIncomplete(DomainError):
    """A refused create whose written tasks could not all be withdrawn: not a refusal (50001). The rest are
    held (never dispatched) and the sweeper fails and refunds them when the hold expires."""

    http_status = 500
    code = "create_incomplete"


# ---------------------------------------------------------------- hosts
@dataclass(frozen=True)
class Placement:
    channel_id: int
    serial: str
    account: str


def _hosts() -> list[Channel]:
    rows = [c for c in channel_service._channels_of_type(PLATFORM) if channel_status.takes_new_tasks(c)]
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
def _specs(plan: rules.CreatePlan, user_id: int, start_at: Any, start_ms: int, now: int) -> list[submission.TaskSpec]:
    placements = place(plan.serials, plan.usernames)
    plan = script_secrets.seal_plan(plan, user_id)  # secrets never stored in plain text (task-api-v1.md)
    specs = []
    for planned in plan.tasks:
        where = placements[planned.serial or planned.account]
        serial = planned.serial or where.serial
        account = planned.account or where.account
        payload = {"serial": serial if planned.serial else "", "account": account if not planned.serial else "",
                   "script_name": plan.script.name, "script_config": planned.script_config,
                   "enable_multi_account": plan.enable_multi_account, **plan.intervals}
        properties = {"script_config": planned.script_config, "enable_multi_account": plan.enable_multi_account,
                      "start_time": start_at.isoformat(timespec="seconds") if start_at else None, **plan.intervals}
        if planned.target:
            properties["target"] = planned.target
        specs.append(submission.TaskSpec(
            platform=PLATFORM, kind=KIND, action=plan.script.name, model_name=f"v1_{plan.script.name}",
            payload=payload, properties=properties, channel_id=where.channel_id,
            start_at_ms=start_ms or now,
            fields={"serial": serial, "account": account, "source": "api", "scheduled_ms": start_ms},
        ))
    return specs


def create(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Validate, fan out, charge and write the tasks (see the module doc); start the immediate ones."""
    plan = rules.plan_create(body)
    now = clock.now_ms()
    start_at = v1_start_time.resolve_start_time(plan.start_time_raw, principal.timezone, now)
    start_ms = int(start_at.timestamp() * 1000) if start_at else 0
    tasks = submission.build_tasks(principal, _specs(plan, principal.user_id, start_at, start_ms, now))
    payer = Payer(principal.user_id, principal.token_hash)
    due_ms = start_ms or int(tasks[0].next_poll_at)  # a scheduled start, or now (submission.build_tasks)
    hold_id = secrets.token_hex(8)
    held_create.hold(tasks, hold_id, clock.now_ms() + settings.get().v1_create_hold_seconds * 1000)
    chunks = held_create.split(payer, tasks)  # measured on the held form, as it would be written
    if len(chunks) == 1 and held_create.fits_unheld(payer, tasks, due_ms=due_ms, scheduled_ms=start_ms):
        task_store.create_charged(payer, tasks)  # one transaction: all or nothing by itself
        to_start = tasks
    else:
        precheck_quota(principal, tasks)
        _write_held(payer, chunks, hold_id)
        to_start = tasks if start_ms else _starters(principal, tasks)
        starting = {t.task_id for t in to_start}
        waiting = [t for t in tasks if t.task_id not in starting]  # as admission would defer them
        tasks = _release(payer, [*to_start, *waiting], hold_id, due_ms=due_ms, scheduled_ms=start_ms,
                         later_ms=clock.now_ms() + settings.get().v1_admission_recheck_seconds * 1000,
                         later_from=len(to_start))
        released = {t.task_id for t in tasks}
        to_start = [t for t in to_start if t.task_id in released]
    submission.created(tasks)
    if not start_ms:
        v1_tasks.start_now(to_start)
    data: dict[str, Any] = {"task_ids": [int(t.id) for t in tasks], "created_count": len(tasks)}
    if start_at:
        data["start_time"] = start_at.isoformat(timespec="seconds")
    return data


def _starters(principal: Principal, tasks: list[Task]) -> list[Task]:
    """The tasks of a large create that can start at once: the first on each device, up to the plan's
    running limit (services/task_api_v1/admission.py). Only they get a start message; the others wait as admission
    would have them wait, and a freed slot wakes them (1,000 start messages would be 1,000 refusals)."""
    limit, devices, out = rules.plan_of(principal.plan).device_limit, set(), []
    for task in tasks:
        device = v1_admission.device_of(task)
        if device not in devices and len(out) < limit:
            devices.add(device)
            out.append(task)
    return out


def precheck_quota(principal: Principal, tasks: list[Task]) -> None:
    """Before a chunked create: refuse at once when the user or the key plainly cannot pay for all of it
    (disabled, or not enough quota and not unlimited). The chunks' own conditions still decide."""
    total = sum(int(t.quota) for t in tasks)
    user = repositories.current().users.get(principal.user_id)
    if user is None or int(user.status) != 1:
        raise Forbidden("user is disabled")
    if int(user.quota) < total:
        raise InsufficientQuota(f"user quota is not enough for {len(tasks)} tasks ({total} needed)")
    if not principal.token_hash:
        return
    key = repositories.current().credentials.by_hash(principal.token_hash)
    if key is None:
        raise InsufficientQuota("token quota is not enough or token disabled", code="insufficient_token_quota")
    if int(key.status) != 1 or (not key.unlimited and int(key.remaining_quota or 0) < total):
        raise InsufficientQuota(f"token quota is not enough for {len(tasks)} tasks ({total} needed) or token "
                                "disabled", code="insufficient_token_quota")


def _write_held(payer: Payer, chunks: list[list[Task]], hold_id: str) -> None:
    written: list[list[Task]] = []
    for chunk in chunks:
        try:
            task_store.create_charged(payer, chunk)
        except Exception as error:
            # A refusal (DomainError) wrote nothing; any other error may have committed: withdraw that chunk too.
            unsure = [] if isinstance(error, DomainError) else [chunk]
            left = withdraw(payer, written + unsure, hold_id)
            if left:
                raise CreateIncomplete(
                    f"the request could not be completed ({getattr(error, 'message', 'internal error')}); "
                    f"{len(left)} of its tasks are held and will be failed and refunded automatically, "
                    f"never run: {', '.join(str(int(t.id)) for t in left[:20])}") from error
            raise
        written.append(chunk)


def withdraw(payer: Payer, chunks: list[list[Task]], hold_id: str) -> list[Task]:
    """Undo written chunks; returns the tasks that could not be withdrawn (logged, never silently)."""
    left: list[Task] = []
    for chunk in chunks:
        try:
            if held_create.withdraw(payer, chunk, hold_id):
                continue
        except Exception:
            logger.exception("withdrawing a chunk of a refused v1 create failed", extra={"tasks": len(chunk)})
        left += [task for task in chunk if not _withdraw_one(payer, task, hold_id)]
    if left:
        logger.error("a refused v1 create left held tasks: the sweeper fails and refunds them",
                     extra={"task_ids": [t.task_id for t in left], "hold": hold_id})
    return left


def _withdraw_one(payer: Payer, task: Task, hold_id: str) -> bool:
    """One task of a refused create, read again: still held -> withdrawn; stopped by its owner meanwhile ->
    its refund settled and removed; gone -> nothing owed (a delete settles the refund first, v1_tasks.remove);
    released (only after a release failed part-way) -> stopped, refunded and removed."""
    try:
        current = task_store.get(task.task_id)
        if current is None:
            return True
        if current.create_hold == hold_id and current.status == states.NOT_START:
            return held_create.withdraw(payer, [current], hold_id)
        if current.status not in states.TERMINAL and current.create_hold is None:
            v1_tasks.stop_task(current)  # released by a release that failed part-way: stopped and refunded
        if current.status in states.TERMINAL:
            v1_tasks.remove(current)
            return True
        return False
    except Exception:
        logger.exception("withdrawing a task of a refused v1 create failed", extra={"task_id": task.task_id})
        return False


def _release(payer: Payer, tasks: list[Task], hold_id: str, *, due_ms: int, scheduled_ms: int, later_ms: int,
             later_from: int) -> list[Task]:
    """Release every chunk (tasks[later_from:] due at `later_ms`). If the store fails part-way, the tasks not
    released are withdrawn, so the reply names exactly the tasks that will run (docs/task-api-v1.md)."""
    released: list[Task] = []
    try:
        released += held_create.release(tasks[:later_from], hold_id, due_ms=due_ms, scheduled_ms=scheduled_ms)
        released += held_create.release(tasks[later_from:], hold_id, due_ms=later_ms, scheduled_ms=scheduled_ms)
    except Exception:
        logger.exception("releasing a v1 create failed part-way", extra={"hold": hold_id})
        released = [t for t in tasks if t.create_hold is None]
        withdraw(payer, [[t] for t in tasks if t.create_hold is not None], hold_id)
    ids = {t.task_id for t in released}
    return sorted((t for t in tasks if t.task_id in ids), key=lambda t: int(t.id))
