"""The webhook repository contract (tests/webhook_repository_contract.py) against DynamoDB (moto)."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.store.webhook_repository import PynamoWebhooks

from tests.webhook_repository_contract import WebhookRepositoryContract


class TestPynamoWebhooks(WebhookRepositoryContract):
    @pytest.fixture
    def repo(self, aws: dict[str, Any]) -> PynamoWebhooks:
        return PynamoWebhooks()
