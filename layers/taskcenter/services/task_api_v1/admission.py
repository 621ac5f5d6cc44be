"""Task API v1 concurrency: at most `device_limit` (by plan) of a user's tasks running at once, and one
task per device at a time. The rest wait NOT_START and start as slots free up.

Slots are *leases* in the counters table, each holding the numeric id of the task that has it:

    v1dev#<user>#<device>    the device's slot (device = serial, or "@<username>" in username mode);
                             value = id * SLOT_BASE + k, so a release finds the run slot without reading more
    v1run#<user>#<k>         the user's running slots, k < device_limit; value = id

Taking slots is one transaction: both lease puts conditioned on the value read (free, or a stale holder),
plus a condition check that the task is still NOT_START. Two dispatchers racing for the last slot: one
wins, the other is told to wait. A lease is *stale* when its holder task is finished, gone, or on another
device: so a release lost to a crash never blocks a user forever (the next admission takes it over).
Releases happen at once on every terminal transition (its row's terminal hook in services/platforms.py), and wake the
user's oldest waiting task through the retry queue so it starts without waiting for the dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskcenter import clock, queues, settings
from taskcenter.domain import states
from taskcenter.domain.v1_scripts import plan_of
from taskcenter.observability import logger
from taskcenter.store import repositories
from taskcenter.store import v1_records as records

if TYPE_CHECKING:
    from taskcenter.store.models import Task

PLATFORM = "tikmatrix"
SLOT_BASE = 1000  # > the largest device_limit


def max_wait_ms() -> int:
    """The longest a waiting task goes unchecked. It must stay below the retry worker's claim window
    (RETRY_CLAIM_SECONDS, 300): `wake_waiting` brings forward only tasks due within it, so a task a worker
    has just claimed (due a whole claim window ahead) is never taken."""
    return max(settings.get().v1_admission_recheck_seconds, settings.get().v1_admission_max_wait_seconds) * 1000


def wait_ms(task: Task, now_ms: int) -> int:
    """How long a task refused a slot waits before it is looked at again: the recheck interval at first, then a
    quarter of how long it has waited so far, up to max_wait_ms. A queue of 1,000 tasks behind 100 slots is
    then not re-admitted every minute in full (a write and a lease read each): releases wake the next ones
    at once (wake_waiting), and the recheck is only the safety net (docs/task-api-v1.md, "Concurrency")."""
    waited = now_ms - max(int(task.submit_ms or 0), int(task.scheduled_ms or 0))
    return min(max_wait_ms(), max(settings.get().v1_admission_recheck_seconds * 1000, waited // 4))


def device_of(task: Task) -> str:
    return task.serial or f"@{task.account}"


def device_lease(user_id: int, device: str) -> str:
    return f"v1dev#{user_id}#{device}"


def run_lease(user_id: int, k: int) -> str:
    return f"v1run#{user_id}#{k}"


def device_limit(user_id: int) -> int:
    user = repositories.current().users.get(user_id)
    return plan_of(user.plan).device_limit if user is not None else 0


def lease_value(numeric_id: int, slot: int) -> int:
    """The device lease's value: its holder and the run slot the holder took with it."""
    return numeric_id * SLOT_BASE + slot


def _stale(holder: int, tasks: dict[int, Task], device: str | None) -> bool:
    """A lease is free to take when nobody holds it, or its holder finished / vanished / moved."""
    if not holder:
        return True
    task = tasks.get(holder)
    if task is None or task.status in states.TERMINAL:
        return True
    return device is not None and device_of(task) != device


def admission_check(task: Task) -> int:
    """submission's admission hook: 0 = this task holds its slots now (start it); else ms to wait."""
    user_id, me = int(task.user_id), int(task.id)
    limit = device_limit(user_id)
    if limit <= 0:
        return wait_ms(task, clock.now_ms())
    device = device_of(task)
    names = [device_lease(user_id, device)] + [run_lease(user_id, k) for k in range(limit)]
    leases = records.read_values(names)
    dev_raw = leases.get(names[0], 0)
    dev_holder = dev_raw // SLOT_BASE
    run_holders = {k: leases.get(run_lease(user_id, k), 0) for k in range(limit)}
    if dev_holder == me and run_holders.get(dev_raw % SLOT_BASE) == me:
        return 0  # already admitted (a re-dispatch after a transient submission failure)
    # Read the holders only when there is no obviously free lease (the common case reads none).
    free_run = next((k for k, h in run_holders.items() if h in (0, me)), None)
    suspects = set()
    if dev_holder not in (0, me):
        suspects.add(dev_holder)
    if free_run is None:
        suspects.update(h for h in run_holders.values() if h)
    holders = records.tasks_by_numeric_id(suspects)
    if dev_holder not in (0, me) and not _stale(dev_holder, holders, device):
        return wait_ms(task, clock.now_ms())
    if free_run is None:
        free_run = next((k for k, h in run_holders.items() if _stale(h, holders, None)), None)
        if free_run is None:
            return wait_ms(task, clock.now_ms())
    if _take(task, device, dev_raw, free_run, run_holders[free_run]):
        logger.info("v1 slot taken", extra={"task_id": task.task_id, "device": device, "slot": free_run})
        return 0
    # lost a race for the slot: look again shortly
    return min(settings.get().v1_admission_recheck_seconds * 1000, 2000)


def _take(task: Task, device: str, dev_raw: int, slot: int, slot_holder: int) -> bool:
    user_id, me = int(task.user_id), int(task.id)
    leases = [(device_lease(user_id, device), lease_value(me, slot), dev_raw)]
    if slot_holder != me:
        leases.append((run_lease(user_id, slot), me, slot_holder))
    return records.take_leases(task, leases)


def release(task: Task, *, wake: bool = True) -> int:
    """Give back the task's leases (each delete conditioned on still being held by it). Returns how many.

    Reads one item (the device lease names the run slot); needs no user record. A run slot whose device
    lease was taken over as stale is left to the admission check, which sees its holder finished."""
    user_id, me = int(task.user_id), int(task.id)
    name = device_lease(user_id, device_of(task))
    raw = records.read_value(name) or 0
    if raw // SLOT_BASE != me:
        return 0
    released = sum(records.drop_if(n, v) for n, v in ((run_lease(user_id, raw % SLOT_BASE), me), (name, raw)))
    if released and wake:
        wake_waiting(user_id, device_of(task))
    return released


def wake_waiting(user_id: int, device: str = "", limit: int = 3) -> int:
    """Bring waiting NOT_START tasks forward and send them a `start` message: first the oldest one of the
    device just freed, then the oldest of other devices (one per device), `limit` in all.

    Only tasks deferred by admission are touched: the condition `next_poll_at <= now + max_wait` leaves
    alone tasks scheduled later (start_time) and tasks a retry worker has just claimed (their
    next_poll_at is the claim's expiry, minutes ahead). Best-effort: the dispatcher is the safety net.
    """
    now = clock.now_ms()
    try:
        candidates: list[Task] = []
        if device and not device.startswith("@"):
            candidates += list(records.oldest_with_status(user_id, states.NOT_START, limit=1, device=device))
        candidates += list(records.oldest_with_status(user_id, states.NOT_START, limit=20))
        bodies, devices = [], set()
        for t in candidates:
            if len(bodies) >= limit:
                break
            if t.platform != PLATFORM or device_of(t) in devices:
                continue
            if not records.bring_forward(t, now, max_wait_ms()):
                continue
            devices.add(device_of(t))
            bodies.append({"task_id": t.task_id, "attempt": int(t.attempt), "reason": "start"})
        if bodies:
            queues.send_many("retry", bodies)
        return len(bodies)
    except Exception:
        logger.warning("waking waiting v1 tasks failed", extra={"user_id": user_id})
        return 0


def on_terminal(task: Task) -> None:
    """Terminal-transition hook (services/platforms.py): free the slots at once."""
    if task.platform == PLATFORM:
        release(task)

