"""Storage behind small interfaces named by intent, and the one place services get them from.

Services call `current().tasks.transition(...)`, `current().ledger.refund(...)` and so on instead of building
PynamoDB update expressions or calling `Model.get/query` themselves. Two implementations keep the same
semantics (the contract suite in tests/repository_contract.py runs against both):

- `store.pynamo_repositories` (the default): today's store functions (store/tasks.py, store/money.py,
  store/counters.py), wrapped, not rewritten;
- `store.memory`: dictionaries, for unit tests of services with no moto and no network.

Changes to a task are plain `{attribute: value}` maps (`REMOVE` drops the attribute), never PynamoDB actions,
so a service does not depend on how they are written (docs/repositories.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from taskcenter.store.repository_types import (  # noqa: F401 - the interfaces, served from here too
    REMOVE,
    Changes,
    ChannelRepository,
    CounterRepository,
    CredentialRepository,
    LedgerRepository,
    Repositories,
    TaskRepository,
    UserRepository,
)

_active: list[Repositories] = []


def current() -> Repositories:
    """The repositories services use: the PynamoDB ones unless a test put others in place with `use`."""
    if _active:
        return _active[-1]
    from taskcenter.store import pynamo_repositories  # late: keeps this module free of PynamoDB

    return pynamo_repositories.default()


@contextmanager
def use(repositories: Repositories) -> Iterator[Repositories]:
    """Serve `repositories` to services inside the block (tests: the in-memory ones)."""
    _active.append(repositories)
    try:
        yield repositories
    finally:
        _active.remove(repositories)
