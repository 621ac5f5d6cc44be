"""A message behind an earlier undelivered one of its task waits for that one's next retry, not a few
seconds at a time (services/webhooks/delivery.py, docs/webhooks.md "Order per task"); in-memory storage."""

from __future__ import annotations

from taskcenter.domain import webhook_rules as rules
from taskcenter.services.webhooks import delivery
from taskcenter.store.memory import MemoryStore
from taskcenter.store.repositories import use
from taskcenter.store.webhook_repository import Message


def _message(seq: int, next_at_ms: int = 0) -> Message:
    webhook_id = rules.message_id(rules.event_id("t1", seq), "ep_a")
    return Message("ep_a", webhook_id, 7, "task.progress", "t1", seq, "{}", next_at_ms=next_at_ms)


def test_a_later_message_waits_for_the_heads_next_retry() -> None:
    with use(MemoryStore().repositories()) as repos:
        head, later = _message(4, next_at_ms=1_000_000 + 7_200_000), _message(6)
        repos.webhooks.put_message(head)
        repos.webhooks.settle_message("ep_a", head.webhook_id, "pending", head.next_at_ms)
        assert delivery._order_wait(repos.webhooks, later, 4, 1_000_000) >= 7_200  # two hours, not 5 s
        assert delivery._order_wait(repos.webhooks, later, 4, head.next_at_ms + 1) == 5  # due: the short wait
        assert delivery._order_wait(repos.webhooks, later, 2, 1_000_000) == 5  # head expired or unknown
