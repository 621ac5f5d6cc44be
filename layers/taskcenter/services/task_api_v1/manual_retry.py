"""Task API v1 retries: one failed task, or all of a user's failed tasks.

A retry starts a new attempt of the same task (same id): attempt + 1, retry_count + 1, back to NOT_START,
charged again at today's price, in one transaction (store.money.charge_submission) conditioned on the
task still being the FAILURE attempt we read, refunded, and under the retry limit (V1_MAX_RETRIES,
default 3). Then the retry worker starts it like any new task (admission, then the host).

Retry-all runs its first page in the request and fans the rest out through the retry queue in pages: a message
`{"kind": "v1_retry_all_page", "run_id", "user_id", "key_hash", "group", "started_ms", "page", "cursor"}`
handles up to V1_RETRY_ALL_PAGE_SIZE failed tasks (a Query on the user's FAILURE range, ascending, from
`cursor`) and sends the next page. Never twice, whatever SQS does:
- a task is retried only if it failed *before the run started* (`finish_ms <= started_ms`, in the
  transaction's condition): a task this run restarted that fails again is not picked up again, and a
  duplicate page finds its tasks already restarted (the condition fails, nothing is charged);
- the run's progress lives in the counters table (`v1ra#<run_id>` = next page): a page message older
  than that is dropped, and of two copies of one page only the one that advances it sends the next page,
  so duplicates never fork the chain.
The engine's retry worker forwards these messages here (`handle_retry_message`).
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from taskcenter import clock, queues, settings
from taskcenter.domain import channel_status, pricing, states
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import Forbidden, InsufficientQuota
from taskcenter.observability import logger
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core.auth import Principal
from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks
from taskcenter.store import money, repositories
from taskcenter.store import tasks as task_store
from taskcenter.store import v1_records as records
from taskcenter.store.money import Payer

if TYPE_CHECKING:
    from taskcenter.store.models import Task

PAGE_KIND = "v1_retry_all_page"


def restart_attempt(task: Task, payer: Payer, group: str, *, failed_before_ms: int | None = None) -> bool:
    """Start a new attempt of a FAILURE task, charged again (store.v1_records.restart_attempt). True if
    this call restarted it; False when it is no longer the failed attempt we read, is at the retry limit,
    or failed after `failed_before_ms`. Raises InsufficientQuota / Forbidden if unpaid."""
    if task.billing == states.BILLING_REFUND_PENDING:
        # the old attempt's first (exactly once); its event comes from the stream (docs/webhooks.md)
        money.refund_task(task.task_id, int(task.attempt))
        repositories.current().tasks.refresh(task)
    if task.status != states.FAILURE or int(task.retry_count or 0) >= settings.get().v1_max_retries:
        return False
    if failed_before_ms is not None and int(task.finish_ms or 0) > failed_before_ms:
        return False
    price = pricing.quota_for(task.model_name, group)
    if not records.restart_attempt(task, payer, price=price, group=group, max_retries=settings.get().v1_max_retries,
                                   failed_before_ms=failed_before_ms):
        return False
    logger.info("v1 task retried", extra={"task_id": task.task_id, "attempt": int(task.attempt)})
    return True


def retry(principal: Principal, numeric_id: int) -> dict[str, Any]:
    task = v1_tasks.own_task(principal, numeric_id)
    if task.status != states.FAILURE:
        raise rules.bad(f"only failed tasks can be retried (task {numeric_id} has status "
                        f"{rules.v1_status(task.status)})", "task_id")
    limit = settings.get().v1_max_retries
    if int(task.retry_count or 0) >= limit:
        raise rules.bad(f"task {numeric_id} has been retried {int(task.retry_count)} times; the limit is {limit}",
                        "task_id")
    channel_id = int(task.channel_id or 0)  # its host deleted: the retry could never run, refused before a charge
    if channel_id and not channel_status.follows_its_tasks(channel_service.get_channel(channel_id)):
        raise rules.bad(f"task {numeric_id}'s TikMatrix host was removed; create the task again", "task_id")
    if not restart_attempt(task, Payer(principal.user_id, principal.token_hash), principal.group):
        raise rules.bad(f"task {numeric_id} changed while retrying; look at it again", "task_id")
    v1_tasks.start_now([task])
    return v1_tasks.view(task, principal.timezone)


# ---------------------------------------------------------------- retry-all
def start_retry_all(principal: Principal) -> int:
    """The reference's reply: `data` is the number of tasks reset (tikmatrix-scripts.md §7; 0 means none was
    under the retry limit). The first page runs in this request, so the number is exact for up to one page
    (V1_RETRY_ALL_PAGE_SIZE) of failed tasks; the rest follow on the retry queue and are counted from the
    counters (docs/task-api-v1.md, "Retry-all": those at the limit among them are skipped when reached)."""
    failed = v1_tasks.count_by_status(principal.user_id, (states.FAILURE,))
    if not failed:
        return 0
    run_id = secrets.token_hex(8)
    records.create_item(_run_key(run_id), 0)
    restarted = retry_all_page({"kind": PAGE_KIND, "run_id": run_id, "user_id": principal.user_id,
                                "key_hash": principal.token_hash, "group": principal.group,
                                "started_ms": clock.now_ms(), "page": 0, "cursor": None})
    more = records.read_value(_run_key(run_id)) is not None  # the run is dropped when its last page is done
    later = v1_tasks.count_by_status(principal.user_id, (states.FAILURE,)) if more else 0
    logger.info("v1 retry-all started", extra={"user_id": principal.user_id, "run_id": run_id, "failed": failed,
                                               "restarted": restarted, "more": more})
    return restarted + later


def _run_key(run_id: str) -> str:
    return f"v1ra#{run_id}"


def handle_retry_message(body: str | dict[str, Any]) -> bool:
    """For the engine's retry worker: True if the message was a v1 retry-all page (handled here)."""
    raw = json.loads(body) if isinstance(body, str) else dict(body)
    if raw.get("kind") != PAGE_KIND:
        return False
    retry_all_page(raw)
    return True


def retry_all_page(message: dict[str, Any]) -> int:
    """Retry one page of a run. Returns how many tasks this call restarted."""
    run_id, page = str(message["run_id"]), int(message["page"])
    user_id, started_ms = int(message["user_id"]), int(message["started_ms"])
    state = records.read_value(_run_key(run_id))
    if state is None:
        return 0
    if state != page:
        logger.info("v1 retry-all page already handled", extra={"run_id": run_id, "page": page})
        return 0
    payer = Payer(user_id, str(message.get("key_hash") or ""))
    group = str(message.get("group") or _group_of(user_id))
    rows = records.oldest_with_status(user_id, states.FAILURE, limit=settings.get().v1_retry_all_page_size,
                                      cursor=message.get("cursor") or None)
    restarted: list[Task] = []
    stopped_reason = ""
    seen = 0
    for row in rows:
        seen += 1
        if row.status != states.FAILURE or int(row.retry_count or 0) >= settings.get().v1_max_retries:
            continue
        if int(row.finish_ms or 0) > started_ms:
            continue
        task = task_store.get(row.task_id)  # the index copy may lag; decide on the item itself
        if task is None:
            continue
        try:
            if restart_attempt(task, payer, group, failed_before_ms=started_ms):
                restarted.append(task)
        except (InsufficientQuota, Forbidden) as error:
            stopped_reason = error.message
            break
    cursor = rows.last_evaluated_key if seen and not stopped_reason else None
    if restarted:
        v1_tasks.start_now(restarted)
    _advance(run_id, page, message, cursor)
    logger.info("v1 retry-all page", extra={"run_id": run_id, "page": page, "seen": seen,
                                            "restarted": len(restarted), "more": cursor is not None,
                                            "stopped": stopped_reason})
    return len(restarted)


def _advance(run_id: str, page: int, message: dict[str, Any], cursor: dict[str, Any] | None) -> None:
    """Move the run to page+1 (only one copy of a page wins), then send that page if there is more."""
    if not records.compare_and_set(_run_key(run_id), page, page + 1):
        return  # another copy of this page advanced the run and sent the next page
    if cursor is None:
        records.drop_if(_run_key(run_id), page + 1)  # the run is over; late copies find no run and stop
        return
    try:
        queues.send("retry", {**message, "page": page + 1, "cursor": cursor})
    except Exception:
        records.compare_and_set(_run_key(run_id), page + 1, page)
        raise  # the message is redelivered and sends the next page then


def _group_of(user_id: int) -> str:
    user = repositories.current().users.get(user_id)
    return user.group if user is not None else "default"

