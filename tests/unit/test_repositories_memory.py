"""The repository contract (tests/repository_contract.py) against the in-memory repositories."""

from __future__ import annotations

import pytest
from taskcenter.store.memory import MemoryStore
from taskcenter.store.models import Channel, Credential, User

from tests.repository_contract import RepositoryContract, Subject
from tests.repository_contract_accounts import AccountsContract


class MemorySeeder:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def user(self, user: User) -> None:
        self.store.put_user(user)

    def credential(self, credential: Credential) -> None:
        self.store.put_credential(credential)

    def channel(self, channel: Channel) -> None:
        self.store.put_channel(channel)


class TestMemoryRepositories(RepositoryContract, AccountsContract):
    @pytest.fixture
    def subject(self) -> Subject:
        store = MemoryStore()
        return Subject(store.repositories(), MemorySeeder(store))
