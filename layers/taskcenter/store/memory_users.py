"""The in-memory users and credentials repositories (store/repository_types.py `UserRepository`,
`CredentialRepository`) over store.memory's tables,
with the same semantics as store/pynamo_users.py: the name guard lives in the counters, as in DynamoDB."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from taskcenter.domain.errors import NotFound
from taskcenter.store.models import Credential, User
from taskcenter.store.pynamo_users import username_guard
from taskcenter.store.repository_types import REMOVE, Changes


class UserTables(Protocol):
    """What this needs of store.memory.MemoryStore (named structurally: memory.py imports this module)."""

    lock: AbstractContextManager[Any]
    users: dict[int, dict[str, Any]]
    counters: dict[str, tuple[int, int]]

    def user(self, user_id: int) -> User | None: ...

    def put_user(self, user: User) -> None: ...


class CredentialTables(Protocol):
    """What MemoryCredentials needs of store.memory.MemoryStore."""

    lock: AbstractContextManager[Any]
    credentials: dict[str, dict[str, Any]]

    def credential(self, token_hash: str) -> Credential | None: ...

    def put_credential(self, credential: Credential) -> None: ...


def apply_to(item: object, changes: Changes) -> None:
    for name, value in changes.items():
        setattr(item, name, None if value is REMOVE else value)


class MemoryUsers:
    def __init__(self, store: UserTables) -> None:
        self.store = store

    def get(self, user_id: int) -> User | None:
        return self.store.user(user_id)

    def id_of(self, username: str) -> int | None:
        row = self.store.counters.get(username_guard(username))
        return int(row[0]) if row is not None else None

    def create(self, fields: Mapping[str, Any]) -> User | None:
        user = User(**fields)
        guard = username_guard(user.username)
        with self.store.lock:
            if guard in self.store.counters or int(user.id) in self.store.users:
                return None
            self.store.counters[guard] = (int(user.id), 0)
            self.store.put_user(user)
        return user

    def update(self, user: User, changes: Changes) -> bool:
        with self.store.lock:
            stored = self.store.user(user.id)
            if stored is None:
                return False
            apply_to(stored, changes)
            self.store.put_user(stored)
        user.deserialize(self.store.users[int(user.id)])  # as UpdateItem's returned item is set on the instance
        return True


class MemoryCredentials:
    def __init__(self, store: CredentialTables) -> None:
        self.store = store

    def by_hash(self, token_hash: str) -> Credential | None:
        return self.store.credential(token_hash)

    def of_user(self, user_id: int) -> list[Credential]:
        with self.store.lock:
            rows = [Credential.from_raw_data(raw) for _, raw in sorted(self.store.credentials.items())]
        return [c for c in rows if int(c.user_id) == int(user_id)]

    def add(self, fields: Mapping[str, Any]) -> Credential | None:
        credential = Credential(**fields)
        with self.store.lock:
            if credential.token_hash in self.store.credentials:
                return None
            self.store.put_credential(credential)
        return credential

    def update(self, credential: Credential, changes: Changes) -> None:
        with self.store.lock:
            stored = self.store.credential(credential.token_hash)
            if stored is None:
                raise NotFound("no such credential")  # credentials are never deleted (store/models.py)
            apply_to(stored, changes)
            self.store.put_credential(stored)
        credential.deserialize(self.store.credentials[credential.token_hash])
