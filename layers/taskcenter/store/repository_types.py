"""The repository interfaces and the change form they take (docs/repositories.md); store/repositories.py
serves the set in use. Kept apart so the implementations (store/pynamo_repositories.py, store/memory.py)
import the interfaces without importing the module that picks one (no import cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from taskcenter.store.counters import ScopeCount
    from taskcenter.store.models import Channel, Credential, Task, User
    from taskcenter.store.money import AuditResult, Payer
    from taskcenter.store.webhook_repository import WebhookRepository


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


REMOVE: Final = _Remove()  # a change value: take the attribute off the item (out of a sparse index)
Changes = Mapping[str, Any]


class TaskRepository(Protocol):
    def get(self, task_id: str) -> Task | None:
        """A consistent read; None when there is no such task."""

    def get_many(self, task_ids: Iterable[str]) -> list[Task]:
        """Consistent reads of the tasks that exist (missing ids are left out; order not kept)."""

    def refresh(self, task: Task) -> None:
        """Reload `task` in place from storage (a consistent read)."""

    def transition(self, task: Task, new_status: str, changes: Changes | None = None, *, fail_reason: str = "",
                   channel_id: int | None = None) -> bool:
        """Move `task` to `new_status` if its stored status and version are still the ones it holds, with
        `changes` (one conditional write; the listing counters follow from the tasks stream, at once in the
        in-memory twin: docs/listing.md "total"). False: another writer moved it first
        (nothing written). True: `task` is refreshed. A FAILURE of a charged attempt becomes refund_pending."""

    def update(self, task: Task, changes: Changes) -> bool:
        """Change fields without changing the status, conditional on status and version. True: `task` holds
        the item as written (UpdateItem returns it); False: another writer changed it first (nothing written)."""

    def hold_until(self, task: Task, at_ms: int, *, submit_attempts: int | None = None) -> bool:
        """Put the task in the poll index due at `at_ms` (a claim, a deferral, a backoff), conditional on
        status and version. True: this call holds it and `task` is refreshed."""

    def owed_refunds(self, due_by_ms: int, limit: int) -> list[str]:
        """Ids of tasks owed a refund since `due_by_ms` or before, oldest first, at most `limit` (the refund
        lane of the sparse `due` index: keys only, no scan; the index may lag, so read the task after)."""

    def past_deadline(self, shard: str, due_by_ms: int, limit: int) -> list[str]:
        """Ids of unfinished tasks of a poll shard whose deadline is `due_by_ms` or before, at most `limit`
        (the shard's deadline lane of the `due` index: keys only, no scan; read the task after)."""

    # -- the poll path (services/jobs/polling.py)
    def due_for_poll(self, shard: str, now_ms: int, limit: int, *, after: tuple[int, str] | None = None) -> list[Task]:
        """Tasks of one poll shard whose next poll is due by `now_ms`, soonest first, at most `limit`, past the
        index position `after` (next_poll_at, task_id; exclusive) when given: the keys from the sparse
        keys-only poll index (no scan), then the items as stored (eventually consistent); a key whose item is
        gone or no longer due is left out. Raises Unavailable while the index is not built (the staged
        migration, docs/deploy.md)."""

    # video platform (store/videos.py)
    def succeed_and_settle(self, task: Task, changes: Changes | None, charge: int) -> bool:
        """`transition(task, SUCCESS, changes)` with the attempt's charge settled at `charge` in the same
        write: ledger settle#<task>#<attempt> (kind charge for more, refund for less), the user's and key's
        balances, task.quota and its `settled_ms` marker, all with the move or none of it (exactly once).
        Nothing to settle (same price, not charged): the plain move. A higher price the payer cannot cover
        is not charged: the move is made without it (the submitted price stands). False: another writer
        moved the task first, or it had finished already (nothing written)."""

    def user_platform_page(self, user_id: int, kind: str, platform: str, *, after: Task | None, limit: int,
                           newest_first: bool) -> list[Task]:
        """Up to `limit` of the user's tasks of `platform` by submission time (newest or oldest first),
        strictly after `after` in that order (one Query on the user+platform listing index; no scan)."""


class LedgerRepository(Protocol):
    def charge(self, payer: Payer, tasks: list[Task]) -> None:
        """Write new tasks and charge for them (each task's `quota`), all or nothing, each charge in the ledger.
        Raises InsufficientQuota / Forbidden (user disabled) / Conflict (a task exists) / TooLarge."""

    def refund(self, task_id: str, attempt: int | None = None) -> bool:
        """Refund a refund_pending attempt, once: True if this call moved the money, False if nothing was owed
        (already refunded, attempt moved on, no such task)."""

    def credit(self, user_id: int, amount: int, note: str = "") -> int:
        """Top a user up (ledger `credit#...`). Returns the new quota. NotFound for no such user."""

    def audit(self, user_id: int) -> AuditResult:
        """The user's balance against the sums of their ledger. NotFound for no such user."""

    def active_users(self, days: Iterable[str]) -> set[int]:
        """Users whose ledger moved on these days ("YYYY-MM-DD", UTC; the by_day index, no scan)."""

    # relay submits held while the client waits (store/held_create.py)
    def withdraw_submit(self, task: Task) -> bool:
        """Undo the charge and the create of a task still held by its relay submit (store.held_create.SUBMIT_HOLD,
        NOT_START, this attempt), all or nothing: the task and its charge entry gone, every balance and counter
        back. False: it is no longer held (nothing written)."""


class CounterRepository(Protocol):
    def allocate_ids(self, sequence: str, count: int = 1) -> list[int]:
        """`count` unique numeric ids from the sequence (not dense, not ordered across processes)."""

    def read(self, names: list[str]) -> ScopeCount:
        """The counters `names` summed (value and change count); missing ones count 0."""

    def next_id(self, sequence: str) -> int:
        """One id, reserved from the sequence now (no block: users and channels are numbered densely)."""


class ChannelRepository(Protocol):
    def get(self, channel_id: int) -> Channel | None:
        """A consistent read; None when there is no such channel."""

    def of_type(self, channel_type: str) -> list[Channel]:
        """Every channel of a type, whatever its status (one Query on the by_type index; no scan)."""

    def enabled_of_type(self, channel_type: str) -> list[Channel]:
        """The channels of a type that are enabled (status 1)."""

    # Admin writes (services/admin).
    def add(self, fields: Mapping[str, Any]) -> Channel | None:
        """Write a new channel of these attributes. None: its id is taken (nothing written)."""

    def update(self, channel: Channel, changes: Changes) -> bool:
        """Change fields of an existing channel; `channel` then holds the item as written. False: no such
        channel (nothing written)."""

    def drop_plaintext_secret(self, channel: Channel, plaintext: str, changes: Changes) -> bool:
        """Take the plaintext secret off the row with `changes`, on condition that it is still `plaintext` (a
        concurrent update is never overwritten). False: it changed (nothing written)."""


class CredentialRepository(Protocol):
    def by_hash(self, token_hash: str) -> Credential | None:
        """The access token or API key stored under this hash; None when unknown."""

    # Admin reads and writes (services/admin).
    def of_user(self, user_id: int) -> list[Credential]:
        """Every token and key of a user, whatever its status (the by_user index, then a consistent read each)."""

    def add(self, fields: Mapping[str, Any]) -> Credential | None:
        """Write a new credential of these attributes. None: its hash is taken (nothing written)."""

    def update(self, credential: Credential, changes: Changes) -> None:
        """Change fields of a stored credential (status, the owner snapshot); `credential` then holds them."""


class UserRepository(Protocol):
    def get(self, user_id: int) -> User | None:
        """A consistent read; None when there is no such user."""

    def id_of(self, username: str) -> int | None:
        """The id of the user with this name (any case), through its uniqueness guard; None when unknown."""

    def create(self, fields: Mapping[str, Any]) -> User | None:
        """Write a new user of these attributes and the guard of its name, one transaction. None: the name
        (or the id) is taken (nothing written). Quota comes through the ledger (`ledger.credit`), not here."""

    def update(self, user: User, changes: Changes) -> bool:
        """Change fields of an existing user; `user` then holds the item as written. False: no such user."""


@dataclass(frozen=True)
class Repositories:
    tasks: TaskRepository
    ledger: LedgerRepository
    counters: CounterRepository
    channels: ChannelRepository
    credentials: CredentialRepository
    users: UserRepository
    webhooks: WebhookRepository | None = None  # store/webhook_repository.py (docs/webhooks.md)
