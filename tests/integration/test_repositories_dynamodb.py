"""The repository contract (tests/repository_contract.py) against the PynamoDB repositories, on moto."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.store import counters
from taskcenter.store.models import Channel, Credential, User
from taskcenter.store.pynamo_repositories import default

from tests.repository_contract import RepositoryContract, Subject
from tests.repository_contract_accounts import AccountsContract


class PynamoSeeder:
    def user(self, user: User) -> None:
        user.save()

    def credential(self, credential: Credential) -> None:
        credential.save()

    def channel(self, channel: Channel) -> None:
        channel.save()


class TestDynamoDBRepositories(RepositoryContract, AccountsContract):
    @pytest.fixture
    def subject(self, aws: dict[str, Any]) -> Subject:
        counters.forget_blocks()  # a fresh account restarts the id sequences
        return Subject(default(), PynamoSeeder())
