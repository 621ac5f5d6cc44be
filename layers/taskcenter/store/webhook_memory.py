"""The in-memory twin of store/webhook_repository.py (contract: tests/webhook_repository_contract.py)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from taskcenter import clock
from taskcenter.store.webhook_repository import (
    ENDPOINT_FIELDS,
    PENDING,
    SECRET_FIELDS,
    SETTLED_CLAIM,
    Attempt,
    Endpoint,
    Message,
    attempt_key,
    check_sealed,
)


class MemoryWebhooks:
    def __init__(self) -> None:
        self.endpoints: dict[tuple[int, str], Endpoint] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.claims: dict[tuple[str, str], int] = {}
        self.log: dict[str, dict[str, Attempt]] = {}
        self.sequences: dict[tuple[str, str], set[int]] = {}
        self.lock = threading.Lock()

    def create_endpoint(self, endpoint: Endpoint) -> None:
        check_sealed({"secret": endpoint.secret})
        with self.lock:
            key = (endpoint.user_id, endpoint.endpoint_id)
            if key in self.endpoints:
                raise ValueError("endpoint exists")
            self.endpoints[key] = replace(endpoint, events=list(endpoint.events))

    def endpoint(self, user_id: int, endpoint_id: str) -> Endpoint | None:
        found = self.endpoints.get((user_id, endpoint_id))
        return replace(found) if found is not None else None

    def endpoints_of(self, user_id: int) -> list[Endpoint]:
        return sorted((replace(e) for (uid, _), e in self.endpoints.items() if uid == user_id),
                      key=lambda e: e.endpoint_id)

    def update_endpoint(self, user_id: int, endpoint_id: str, changes: dict[str, Any]) -> Endpoint | None:
        check_sealed(changes)
        with self.lock:
            found = self.endpoints.get((user_id, endpoint_id))
            if found is None:
                return None
            values = {name: changes[name] for name in ENDPOINT_FIELDS if name in changes}
            if "events" in values and values["events"] is None:
                values["events"] = []
            for text in ("description", "disabled_reason"):
                if text in values and values[text] is None:
                    values[text] = ""
            updated = replace(found, **values, updated_ms=clock.now_ms())
            self.endpoints[(user_id, endpoint_id)] = updated
            return replace(updated)

    def swap_secrets(self, user_id: int, endpoint_id: str, before: dict[str, str | None],
                     after: dict[str, str | None]) -> bool:
        check_sealed(after)
        with self.lock:
            found = self.endpoints.get((user_id, endpoint_id))
            if found is None or any(getattr(found, name) != before.get(name) for name in SECRET_FIELDS):
                return False
            self.endpoints[(user_id, endpoint_id)] = replace(
                found, secret=after.get("secret") or "", old_secret=after.get("old_secret"))
            return True

    def delete_endpoint(self, user_id: int, endpoint_id: str) -> bool:
        with self.lock:
            return self.endpoints.pop((user_id, endpoint_id), None) is not None

    def put_message(self, message: Message) -> bool:
        with self.lock:
            key = (message.endpoint_id, message.webhook_id)
            if key in self.messages:
                return False
            self.messages[key] = replace(message, attempts=0)
            return True

    def message(self, endpoint_id: str, webhook_id: str) -> Message | None:
        found = self.messages.get((endpoint_id, webhook_id))
        claim = self.claims.get((endpoint_id, webhook_id), 0)
        return replace(found, claim_until_ms=claim) if found is not None else None

    def claim_attempt(self, endpoint_id: str, webhook_id: str, attempt: int, lease_ms: int) -> bool:
        with self.lock:
            key = (endpoint_id, webhook_id)
            found = self.messages.get(key)
            now = clock.now_ms()
            if found is None or found.status != PENDING:
                return False
            expired = found.attempts == attempt and self.claims.get(key, 0) < now
            if found.attempts != attempt - 1 and not expired:
                return False
            found.attempts = attempt
            self.claims[key] = now + lease_ms
            return True

    def settle_message(self, endpoint_id: str, webhook_id: str, status: str, next_at_ms: int = 0) -> None:
        with self.lock:
            found = self.messages[(endpoint_id, webhook_id)]
            found.status, found.next_at_ms = status, next_at_ms
            self.claims[(endpoint_id, webhook_id)] = SETTLED_CLAIM

    def reset_message(self, endpoint_id: str, webhook_id: str) -> bool:
        with self.lock:
            found = self.messages.get((endpoint_id, webhook_id))
            if found is None:
                return False
            found.status, found.attempts, found.next_at_ms = PENDING, 0, 0
            self.claims[(endpoint_id, webhook_id)] = 0
            return True

    def log_attempt(self, attempt: Attempt) -> None:
        with self.lock:
            self.log.setdefault(attempt.endpoint_id, {})[attempt_key(attempt)] = replace(attempt)

    def attempts(self, endpoint_id: str, limit: int) -> list[Attempt]:
        rows = self.log.get(endpoint_id, {})
        return [replace(rows[k]) for k in sorted(rows, reverse=True)[:limit]]

    def add_pending(self, endpoint_id: str, task_id: str, seq: int) -> None:
        with self.lock:
            self.sequences.setdefault((endpoint_id, task_id), set()).add(seq)

    def remove_pending(self, endpoint_id: str, task_id: str, seq: int) -> None:
        with self.lock:
            self.sequences.get((endpoint_id, task_id), set()).discard(seq)

    def pending(self, endpoint_id: str, task_id: str) -> set[int]:
        return set(self.sequences.get((endpoint_id, task_id), set()))
