"""The webhook queue's consumer (docs/webhooks.md): fans an event out to its endpoints, then delivers each
message signed per Standard Webhooks, retrying with backoff and jitter for days.

Two message kinds share the `webhook` queue:
- `event` (core/task_events.py): one per winning transition; becomes one stored message per endpoint that
  wants it (and the task's own hook), each with a fixed `webhook-id`, and one `delivery` message each;
- `delivery`: one attempt of one message. A wait longer than SQS's 15-minute delay hops: the message is
  sent again with the longest delay until its time has come.
A task's messages to one endpoint go out in order: a later one waits while an earlier one is undelivered.
A message that ends undelivered (schedule used up, endpoint disabled or deleted) raises on every receive,
so SQS moves it to the dead-letter queue after maxReceiveCount (alarmed, template.yaml).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from taskcenter import clock, queues, settings
from taskcenter.domain import webhook_rules as rules
from taskcenter.observability import logger, metrics
from taskcenter.providers import http
from taskcenter.providers.base import UpstreamError
from taskcenter.sealing import SecretNotReadable
from taskcenter.services.webhooks import signing_secrets
from taskcenter.store.repositories import current as repositories
from taskcenter.store.webhook_repository import (
    DEAD,
    DELIVERED,
    DISABLED,
    ENABLED,
    PENDING,
    SETTLED_CLAIM,
    Attempt,
    Endpoint,
    Message,
    WebhookRepository,
)

HOOK_PREFIX = "hook_"  # the pseudo endpoint of a task's own hook (notifyHook): hook_<task_id>
# In a hook's pending set: the hook answered 410, so it gets nothing more (docs/webhooks.md); below every real
# seq (they are >= 0), and never removed
HOOK_GONE = -1
MAX_SQS_DELAY = 900


class DeliveryAbandoned(Exception):
    """This message will not be delivered: raised on every receive so SQS dead-letters it."""


def webhooks() -> WebhookRepository:
    repo = repositories().webhooks
    if repo is None:
        raise RuntimeError("no webhook repository configured")
    return repo


def handle(body: str | dict[str, Any]) -> str:
    """The record handler. Returns what happened (for logs and tests)."""
    message = json.loads(body) if isinstance(body, str) else dict(body)
    kind = message.get("kind")
    if kind == "event":
        return f"fanned out to {fan_out(message)}"
    if kind == "delivery":
        return deliver(message)
    raise ValueError(f"webhook message of unknown kind {kind!r}")


def fan_out(event: dict[str, Any]) -> int:
    """One stored message and one delivery per target; a repeated event (SQS duplicate) writes nothing new
    and only re-sends deliveries, which find their message already claimed or settled."""
    repo = webhooks()
    user_id, task_id, seq = int(event["user_id"]), str(event["task_id"]), int(event["seq"])
    targets = [(e.endpoint_id, "", str(event["body"])) for e in repo.endpoints_of(user_id)
               if e.status == ENABLED and rules.wants(e.events, str(event["type"]))]
    if isinstance(event.get("hook"), dict) and HOOK_GONE not in repo.pending(HOOK_PREFIX + task_id, task_id):
        targets.append((HOOK_PREFIX + task_id, str(event["hook"]["url"]), str(event["hook"]["body"])))
    deliveries = []
    for endpoint_id, url, body in targets:
        webhook_id = rules.message_id(str(event["event_id"]), endpoint_id)
        stored = Message(endpoint_id=endpoint_id, webhook_id=webhook_id, user_id=user_id,
                         event_type=str(event["type"]), task_id=task_id, seq=seq, body=body, url=url,
                         created_ms=clock.now_ms())
        if repo.put_message(stored):
            repo.add_pending(endpoint_id, task_id, seq)
        deliveries.append(delivery_body(stored, 1))
    if deliveries:
        queues.send_many("webhook", deliveries)
    return len(deliveries)


def delivery_body(message: Message, attempt: int) -> dict[str, Any]:
    return {"kind": "delivery", "endpoint_id": message.endpoint_id, "webhook_id": message.webhook_id,
            "user_id": message.user_id, "attempt": attempt}


def _requeue(body: dict[str, Any], seconds: float) -> None:
    queues.send("webhook", body, delay_seconds=min(MAX_SQS_DELAY, max(0, math.ceil(seconds))))


@dataclass
class Reply:
    status: int | None
    latency_ms: int
    error: str = ""
    retry_after: int | None = None


def signature(keys: list[str], webhook_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one v1 entry per key (the secret, and the old one during a rotation; spec A.3)."""
    return " ".join(Webhook(key).sign(webhook_id, at, body) for key in keys)


def send(url: str, webhook_id: str, body: str, keys: list[str] | None) -> Reply:
    """One POST through the guarded client (providers/http.py: vetted addresses, no redirects followed,
    total time limit, response size cap)."""
    at = datetime.fromtimestamp(clock.now_s(), tz=UTC)
    headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
               "webhook-timestamp": str(int(at.timestamp()))}
    if keys:  # a task's own hook (notifyHook) is unsigned, as midjourney-proxy's
        headers["webhook-signature"] = signature(keys, webhook_id, at, body)
    started = time.monotonic()
    try:
        reply = http.request("POST", url, headers=headers, json_body=body.encode(), max_redirects=0, retries=0,
                             total_timeout=settings.get().webhook_timeout_seconds,
                             max_bytes=settings.get().webhook_max_response_bytes)
    except UpstreamError as error:
        latency = int((time.monotonic() - started) * 1000)
        if int(error.status or 0):  # it answered (2xx, a 410, a 5xx); only its body was over the cap
            return Reply(int(error.status), latency)
        return Reply(None, latency, error=error.public)
    latency = int((time.monotonic() - started) * 1000)
    return Reply(reply.status, latency, retry_after=rules.parse_retry_after(reply.headers.get("retry-after")))


def deliver(body: dict[str, Any]) -> str:
    repo = webhooks()
    endpoint_id, webhook_id, attempt = str(body["endpoint_id"]), str(body["webhook_id"]), int(body["attempt"])
    message = repo.message(endpoint_id, webhook_id)
    if message is None:
        return "expired"
    if message.status == DEAD:
        raise DeliveryAbandoned(f"{webhook_id} to {endpoint_id} was abandoned")
    if message.status != PENDING or message.attempts > attempt:
        return "duplicate"
    now = clock.now_ms()
    if message.attempts == attempt and message.claim_until_ms != SETTLED_CLAIM and message.claim_until_ms > now:
        _requeue(body, (message.claim_until_ms - now) / 1000)  # being sent, or its worker crashed: look again
        return "claimed elsewhere"
    if message.next_at_ms > now:
        _requeue(body, (message.next_at_ms - now) / 1000)
        return "waiting"
    endpoint = None if endpoint_id.startswith(HOOK_PREFIX) else repo.endpoint(message.user_id, endpoint_id)
    if not endpoint_id.startswith(HOOK_PREFIX) and (endpoint is None or endpoint.status != ENABLED):
        reason = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
        return _abandon(repo, message, attempt, None, 0, reason)
    pending = repo.pending(endpoint_id, message.task_id)
    if HOOK_GONE in pending:
        return _abandon(repo, message, attempt, None, 0, "the task's hook answered 410 Gone")
    earlier = [seq for seq in pending if seq < message.seq]
    if earlier:
        _requeue(body, _order_wait(repo, message, min(earlier), now))
        return "after an earlier event"
    if endpoint is not None:
        endpoint = signing_secrets.migrate(repo, endpoint)
    if not repo.claim_attempt(endpoint_id, webhook_id, attempt, int(settings.get().webhook_timeout_seconds
                                                                    * 1000) + 60_000):
        return "duplicate"
    keys = None
    if endpoint is not None:
        try:
            keys = signing_secrets.signing_keys(endpoint)
        except SecretNotReadable as error:
            if not error.permanent:  # KMS unreachable or throttled: retried on the delivery schedule and logged;
                # left to SQS (5 receives, then the DLQ) it stayed pending and held the task's later events
                # (found by hostile testing)
                return _retry(repo, message, attempt, Reply(None, 0), "its signing secret could not be read "
                              "(KMS unavailable)", body)
            reason = "its signing secret cannot be decrypted: rotate the secret, then enable the endpoint"
            _disable(repo, endpoint, reason)
            return _abandon(repo, message, attempt, None, 0, reason)
    reply = send(message.url or (endpoint.url if endpoint else ""), webhook_id, message.body, keys)
    return _settle(repo, message, endpoint, attempt, reply, body)


def _order_wait(repo: WebhookRepository, message: Message, head_seq: int, now: int) -> float:
    """Seconds until the task's earliest undelivered message may have gone (its next retry), at least
    WEBHOOK_ORDER_WAIT_SECONDS: a message behind one that waits hours does not look again every few seconds."""
    wait = float(settings.get().webhook_order_wait_seconds)
    head_id = rules.message_id(rules.event_id(message.task_id, head_seq), message.endpoint_id)
    head = repo.message(message.endpoint_id, head_id)
    if head is not None and head.next_at_ms > now:
        wait = max(wait, (head.next_at_ms - now) / 1000 + 1)
    return wait


def _settle(repo: WebhookRepository, message: Message, endpoint: Endpoint | None, attempt: int, reply: Reply,
            body: dict[str, Any]) -> str:
    outcome = rules.classify(reply.status, reply.error)
    if outcome.verdict == rules.DELIVERED:
        repo.settle_message(message.endpoint_id, message.webhook_id, DELIVERED)
        repo.remove_pending(message.endpoint_id, message.task_id, message.seq)
        _log(repo, message, attempt, reply, f"{rules.DELIVERED}: {outcome.reason}")
        if endpoint is not None and endpoint.failing_since_ms is not None:
            repo.update_endpoint(endpoint.user_id, endpoint.endpoint_id, {"failing_since_ms": None})
        metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
        return DELIVERED
    if outcome.verdict == rules.DISABLE:
        _disable(repo, endpoint, outcome.reason)
        if message.endpoint_id.startswith(HOOK_PREFIX):  # a hook has no endpoint: it stops for its task
            repo.add_pending(message.endpoint_id, message.task_id, HOOK_GONE)
        return _abandon(repo, message, attempt, reply, reply.latency_ms, outcome.reason)
    now = clock.now_ms()
    if endpoint is not None and endpoint.failing_since_ms is None:
        repo.update_endpoint(endpoint.user_id, endpoint.endpoint_id, {"failing_since_ms": now})
    failing_since = (endpoint.failing_since_ms if endpoint is not None else None) or now
    if endpoint is not None and now - failing_since >= settings.get().webhook_disable_after_seconds * 1000:
        since = datetime.fromtimestamp(failing_since / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        _disable(repo, endpoint, f"every delivery has failed since {since}; the last one: {outcome.reason}")
        return _abandon(repo, message, attempt, reply, reply.latency_ms, outcome.reason)
    return _retry(repo, message, attempt, reply, outcome.reason, body)


def _retry(repo: WebhookRepository, message: Message, attempt: int, reply: Reply, reason: str,
           body: dict[str, Any]) -> str:
    """The next attempt on the retry schedule (logged), or abandoned when the schedule is used up."""
    delay = rules.retry_delay(attempt, rules.parse_schedule(settings.get().webhook_retry_schedule),
                              retry_after=reply.retry_after)
    if delay is None:
        return _abandon(repo, message, attempt, reply, reply.latency_ms, f"retries used up; {reason}")
    next_at = clock.now_ms() + delay * 1000
    repo.settle_message(message.endpoint_id, message.webhook_id, PENDING, next_at)
    _log(repo, message, attempt, reply, f"{rules.RETRY}: {reason}", next_at)
    _requeue({**body, "attempt": attempt + 1}, delay)
    return rules.RETRY


def _disable(repo: WebhookRepository, endpoint: Endpoint | None, reason: str) -> None:
    if endpoint is not None:
        repo.update_endpoint(endpoint.user_id, endpoint.endpoint_id, {"status": DISABLED, "disabled_reason": reason})
        logger.info("webhook endpoint disabled", extra={"endpoint_id": endpoint.endpoint_id, "reason": reason})


def _abandon(repo: WebhookRepository, message: Message, attempt: int, reply: Reply | None, latency: int,
             reason: str) -> str:
    repo.settle_message(message.endpoint_id, message.webhook_id, DEAD)
    repo.remove_pending(message.endpoint_id, message.task_id, message.seq)
    _log(repo, message, attempt, reply or Reply(None, latency), f"{DEAD}: {reason}")
    metrics.add_metric(name="WebhooksAbandoned", unit="Count", value=1)
    raise DeliveryAbandoned(f"{message.webhook_id} to {message.endpoint_id}: {reason}")


def _log(repo: WebhookRepository, message: Message, attempt: int, reply: Reply, outcome: str,
         next_at: int | None = None) -> None:
    repo.log_attempt(Attempt(endpoint_id=message.endpoint_id, webhook_id=message.webhook_id, attempt=attempt,
                             at_ms=clock.now_ms(), status_code=reply.status, latency_ms=reply.latency_ms,
                             outcome=outcome[:300], next_at_ms=next_at))
