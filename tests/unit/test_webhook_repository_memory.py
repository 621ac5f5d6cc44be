"""The webhook repository contract (tests/webhook_repository_contract.py) against the in-memory twin."""

from __future__ import annotations

import pytest
from taskcenter.store.webhook_memory import MemoryWebhooks

from tests.webhook_repository_contract import WebhookRepositoryContract


class TestMemoryWebhooks(WebhookRepositoryContract):
    @pytest.fixture
    def repo(self) -> MemoryWebhooks:
        return MemoryWebhooks()
