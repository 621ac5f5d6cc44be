"""One contract for both webhook repositories (store/webhook_repository.py, store/webhook_memory.py):
tests/unit/test_webhook_repository_memory.py and tests/integration/test_webhook_repository_dynamodb.py
give the `repo` fixture."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter import clock
from taskcenter.store.webhook_repository import DEAD, DELIVERED, DISABLED, PENDING, Attempt, Endpoint, Message

SEALED = "kms1:0badf00d:Y2lwaGVydGV4dA=="  # the stored form of a secret (services/webhooks/signing_secrets.py)


def endpoint(endpoint_id: str = "ep_a", user_id: int = 7) -> Endpoint:
    return Endpoint(endpoint_id, user_id, "https://x.y/h", SEALED, events=["task.failed"],
                    description="d", created_ms=1000, updated_ms=1000)


def message(webhook_id: str = "msg_1", seq: int = 4) -> Message:
    return Message("ep_a", webhook_id, 7, "task.failed", "t1", seq, '{"a":1}', created_ms=5)


class WebhookRepositoryContract:
    def test_endpoints_per_user(self, repo: Any) -> None:
        repo.create_endpoint(endpoint())
        repo.create_endpoint(endpoint("ep_b"))
        repo.create_endpoint(endpoint("ep_c", user_id=8))
        assert sorted(e.endpoint_id for e in repo.endpoints_of(7)) == ["ep_a", "ep_b"]
        assert repo.endpoint(8, "ep_a") is None  # another user's id: not found
        got = repo.endpoint(7, "ep_a")
        assert (got.url, got.secret, got.events) == ("https://x.y/h", SEALED, ["task.failed"])
        assert got.status == "enabled"

    def test_update_and_delete(self, repo: Any) -> None:
        repo.create_endpoint(endpoint())
        updated = repo.update_endpoint(7, "ep_a", {"status": DISABLED, "disabled_reason": "r", "failing_since_ms": 9})
        assert (updated.status, updated.disabled_reason, updated.failing_since_ms) == (DISABLED, "r", 9)
        cleared = repo.update_endpoint(7, "ep_a", {"failing_since_ms": None, "disabled_reason": None})
        assert cleared.failing_since_ms is None and cleared.disabled_reason == ""
        assert repo.update_endpoint(7, "ep_zz", {"status": DISABLED}) is None
        assert repo.delete_endpoint(7, "ep_a") is True and repo.delete_endpoint(7, "ep_a") is False
        assert repo.endpoints_of(7) == []

    def test_only_sealed_secrets_are_stored(self, repo: Any) -> None:
        with pytest.raises(ValueError):
            repo.create_endpoint(Endpoint("ep_a", 7, "https://x.y/h", "whsec_plaintext"))
        repo.create_endpoint(endpoint())
        with pytest.raises(ValueError):
            repo.update_endpoint(7, "ep_a", {"old_secret": "whsec_plaintext"})
        with pytest.raises(ValueError):
            repo.swap_secrets(7, "ep_a", {"secret": SEALED, "old_secret": None},
                              {"secret": "whsec_x", "old_secret": None})
        assert repo.endpoint(7, "ep_a").secret == SEALED

    def test_swap_secrets_only_if_they_still_hold_what_was_read(self, repo: Any) -> None:
        repo.create_endpoint(endpoint())
        other = SEALED.replace("0badf00d", "feedf00d")
        assert repo.swap_secrets(7, "ep_a", {"secret": other, "old_secret": None},
                                 {"secret": other, "old_secret": None}) is False  # a rotation came first
        assert repo.swap_secrets(7, "ep_a", {"secret": SEALED, "old_secret": other},
                                 {"secret": other, "old_secret": None}) is False
        assert repo.swap_secrets(7, "ep_zz", {"secret": SEALED, "old_secret": None},
                                 {"secret": other, "old_secret": None}) is False
        assert repo.swap_secrets(7, "ep_a", {"secret": SEALED, "old_secret": None},
                                 {"secret": other, "old_secret": SEALED}) is True
        got = repo.endpoint(7, "ep_a")
        assert (got.secret, got.old_secret) == (other, SEALED)

    def test_a_message_is_written_once_and_claimed_once_per_attempt(self, repo: Any) -> None:
        assert repo.put_message(message()) is True
        assert repo.put_message(message()) is False
        assert repo.claim_attempt("ep_a", "msg_1", 1, 60_000) is True
        assert repo.claim_attempt("ep_a", "msg_1", 1, 60_000) is False  # a duplicate delivery
        repo.settle_message("ep_a", "msg_1", PENDING, 123)
        assert repo.claim_attempt("ep_a", "msg_1", 1, 60_000) is False  # settled: only the next attempt
        assert repo.claim_attempt("ep_a", "msg_1", 2, 60_000) is True
        repo.settle_message("ep_a", "msg_1", DELIVERED)
        assert repo.claim_attempt("ep_a", "msg_1", 3, 60_000) is False
        got = repo.message("ep_a", "msg_1")
        assert (got.status, got.attempts, got.seq, got.body) == (DELIVERED, 2, 4, '{"a":1}')
        assert repo.reset_message("ep_a", "msg_1") is True and repo.reset_message("ep_a", "msg_zz") is False
        assert repo.claim_attempt("ep_a", "msg_1", 1, 60_000) is True

    def test_an_expired_claim_can_be_taken_again(self, repo: Any) -> None:
        repo.put_message(message())
        clock.set_now(1_000_000)
        try:
            assert repo.claim_attempt("ep_a", "msg_1", 1, 1000) is True
            assert repo.message("ep_a", "msg_1").claim_until_ms == 1_001_000
            clock.set_now(1_002_000)  # the worker that claimed it crashed
            assert repo.claim_attempt("ep_a", "msg_1", 1, 1000) is True
            repo.settle_message("ep_a", "msg_1", DEAD)
            assert repo.claim_attempt("ep_a", "msg_1", 2, 1000) is False
        finally:
            clock.set_now(None)

    def test_the_log_reads_the_last_attempts_newest_first(self, repo: Any) -> None:
        for n in range(1, 8):
            repo.log_attempt(Attempt("ep_a", f"msg_{n % 2}", n, 1000 + n, 500, 12, "retry: HTTP 500", 5000 + n))
        last = repo.attempts("ep_a", 3)
        assert [a.attempt for a in last] == [7, 6, 5]
        assert (last[0].status_code, last[0].latency_ms, last[0].outcome, last[0].next_at_ms) == (
            500, 12, "retry: HTTP 500", 5007)
        assert repo.attempts("ep_other", 3) == []

    def test_pending_sequences(self, repo: Any) -> None:
        assert repo.pending("ep_a", "t1") == set()
        repo.add_pending("ep_a", "t1", 4)
        repo.add_pending("ep_a", "t1", 6)
        repo.add_pending("ep_a", "t1", 6)
        assert repo.pending("ep_a", "t1") == {4, 6}
        repo.remove_pending("ep_a", "t1", 4)
        repo.remove_pending("ep_a", "t1", 4)
        assert repo.pending("ep_a", "t1") == {6}
