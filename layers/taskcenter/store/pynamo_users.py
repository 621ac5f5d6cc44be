"""The PynamoDB users repository (store/repository_types.py `UserRepository`): a user and the guard that keeps
its name unique, one transaction. Kept apart from store/pynamo_repositories.py, which serves it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from taskcenter.store.db import cancellation_codes, conditional_update, connection
from taskcenter.store.models import Counter, User
from taskcenter.store.repository_types import REMOVE, Changes


def username_guard(username: str) -> str:
    """The counters row that reserves a name (any case)."""
    return f"username#{username.lower()}"


def model_actions(model: type, changes: Changes) -> list[Any]:
    """`{attribute: value}` as PynamoDB update actions on `model` (REMOVE: remove the attribute)."""
    return [getattr(model, name).remove() if value is REMOVE else getattr(model, name).set(value)
            for name, value in changes.items()]


class PynamoUsers:
    def get(self, user_id: int) -> User | None:
        try:
            return User.get(int(user_id), consistent_read=True)
        except DoesNotExist:
            return None

    def id_of(self, username: str) -> int | None:
        try:
            return int(Counter.get(username_guard(username), consistent_read=True).value)
        except DoesNotExist:
            return None

    def create(self, fields: Mapping[str, Any]) -> User | None:
        user = User(**fields)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(Counter(name=username_guard(user.username), value=int(user.id)),
                        condition=Counter.name.does_not_exist())
                tx.save(user, condition=User.id.does_not_exist())
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_codes(error):
                return None
            raise
        return user

    def update(self, user: User, changes: Changes) -> bool:
        return conditional_update(user, model_actions(User, changes), User.id.exists())
