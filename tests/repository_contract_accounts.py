"""The repository contract, continued (tests/repository_contract.py): what the admin operations, the account
read and the timeout sweeper ask of storage -- users and their name guard, credentials of a user, channel
writes, the deadline lane, dense ids. Mixed into the same two runners (memory, PynamoDB on moto), so the
in-memory fake cannot drift here either.
"""

from __future__ import annotations

from typing import Any

from taskcenter import clock
from taskcenter.domain import states
from taskcenter.store import held_create
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Channel, Credential
from taskcenter.store.repositories import REMOVE

from tests.repository_contract import KEY, USER, Subject, new_task

NEW_USER = {"id": 77, "username": "Erin", "display_name": "Erin", "role": 1, "group": "default", "plan": "Pro",
            "timezone": "UTC", "quota": 0, "created_at": 1, "updated_at": 1}


class AccountsContract:
    # -------------------------------------------------------------- users
    def test_a_user_is_created_once_per_name_in_any_case(self, subject: Subject) -> None:
        users = subject.repos.users
        created: Any = users.create(NEW_USER)
        assert (int(created.id), created.username) == (77, "Erin")
        assert users.id_of("erin") == 77 and users.id_of("ERIN") == 77
        assert users.create({**NEW_USER, "id": 78, "username": "erin"}) is None  # the name is taken
        assert users.get(78) is None and users.get(77).username == "Erin"
        assert users.id_of("nobody") is None and users.get(79) is None

    def test_a_user_update_changes_the_fields_and_the_caller_holds_them(self, subject: Subject) -> None:
        user: Any = subject.repos.users.create(NEW_USER)
        assert subject.repos.users.update(user, {"plan": "Team", "status": 2})
        assert (user.plan, int(user.status), user.username) == ("Team", 2, "Erin")
        stored: Any = subject.repos.users.get(77)
        assert (stored.plan, int(stored.status)) == ("Team", 2)
        ghost: Any = subject.repos.users.create({**NEW_USER, "id": 80, "username": "ghost"})
        ghost.id = 81
        assert not subject.repos.users.update(ghost, {"plan": "Team"})  # no such user: nothing written
        assert subject.repos.users.get(81) is None

    # -------------------------------------------------------------- credentials
    def test_credentials_of_a_user_are_added_once_and_updated(self, funded: Subject) -> None:
        creds = funded.repos.credentials
        added: Any = creds.add({"token_hash": "h2", "kind": "access", "user_id": USER, "user_plan": "Team"})
        assert (added.kind, added.user_plan) == ("access", "Team")
        assert creds.add({"token_hash": "h2", "kind": "key", "user_id": USER}) is None  # the hash is taken
        assert creds.by_hash("h2").kind == "access"
        funded.seed.credential(Credential(token_hash="other", kind="key", user_id=USER + 1))
        assert sorted(c.token_hash for c in creds.of_user(USER)) == sorted([KEY, "h2"])
        assert creds.of_user(USER + 5) == []
        creds.update(added, {"status": 2, "user_group": "vip"})
        assert (int(added.status), added.user_group, added.kind) == (2, "vip", "access")
        stored: Any = creds.by_hash("h2")
        assert (int(stored.status), stored.user_group, stored.user_plan) == (2, "vip", "Team")

    # -------------------------------------------------------------- channels
    def test_a_channel_is_added_once_and_updated_while_it_exists(self, subject: Subject) -> None:
        channels = subject.repos.channels
        fields = {"id": 4, "type": "suno", "base_url": "https://up.example", "models": ["a"]}
        added: Any = channels.add(fields)
        assert (int(added.id), list(added.models)) == (4, ["a"])
        assert channels.add({**fields, "type": "midjourney"}) is None
        assert channels.get(4).type == "suno"
        assert channels.update(added, {"status": 3, "models": ["a", "b"], "name": "n"})
        assert (int(added.status), list(added.models), added.name) == (3, ["a", "b"], "n")
        assert int(channels.get(4).status) == 3
        ghost: Any = channels.add({**fields, "id": 6})
        ghost.id = 9
        assert not channels.update(ghost, {"status": 2})
        assert channels.get(9) is None

    def test_a_plaintext_secret_is_dropped_only_while_it_is_the_value_read(self, subject: Subject) -> None:
        subject.seed.channel(Channel(id=5, type="suno", base_url="https://up.example", legacy_secret="old"))
        mine, theirs = subject.repos.channels.get(5), subject.repos.channels.get(5)
        assert subject.repos.channels.drop_plaintext_secret(mine, "old", {"secret_ref": "ref-5"})
        assert (mine.legacy_secret, mine.secret_ref) == (None, "ref-5")
        assert not subject.repos.channels.drop_plaintext_secret(theirs, "old", {"secret_ref": "other"})
        stored: Any = subject.repos.channels.get(5)
        assert (stored.legacy_secret, stored.secret_ref) == (None, "ref-5")
        assert subject.repos.channels.update(stored, {"secret_ref": "", "legacy_secret": REMOVE})

    # -------------------------------------------------------------- tasks, counters
    def test_past_deadline_reads_one_shard_lane_up_to_a_time(self, funded: Subject) -> None:
        loose = new_task("t0", 20, quota=10)  # an open task that is not held: its deadline, in no lane
        tasks = [new_task(f"t{i}", i, quota=10) for i in range(1, 7)]
        for i, task in enumerate(tasks):  # held ones are the lanes' (services/jobs/sweeper.py)
            held_create.hold([task], f"h{i}", clock.now_ms() + 60_000 * (i + 1))
        funded.repos.ledger.charge(_payer(), [loose, *tasks])
        assert (loose.due_lane, int(loose.due_at)) == (None, task_store.deadline_after(int(loose.submit_ms)))
        deadlines = {t.task_id: (t.due_lane, int(t.due_at)) for t in tasks}
        shard = deadlines["t1"][0]
        assert "t0" not in funded.repos.tasks.past_deadline(task_store.shard_for("t0"), 2 * int(loose.due_at), 100)
        mine = [t for t, (lane, _) in deadlines.items() if lane == shard]
        latest = max(at for _, at in deadlines.values())
        assert sorted(funded.repos.tasks.past_deadline(shard, latest, 100)) == sorted(mine)
        assert funded.repos.tasks.past_deadline(shard, latest - 86_400_000 * 365, 100) == []
        assert len(funded.repos.tasks.past_deadline(shard, latest, 1)) == 1
        done = funded.repos.tasks.get("t1")
        assert funded.repos.tasks.transition(done, states.SUCCESS)  # a finished task leaves its lane
        assert "t1" not in funded.repos.tasks.past_deadline(shard, latest, 100)
        assert task_store.shard_for("t1") == shard

    def test_next_id_is_dense_per_sequence(self, subject: Subject) -> None:
        first = subject.repos.counters.next_id("contract-dense")
        assert [subject.repos.counters.next_id("contract-dense") for _ in range(2)] == [first + 1, first + 2]
        assert subject.repos.counters.next_id("contract-other") == 1
        assert clock.now_ms() > 0


def _payer() -> Any:
    from taskcenter.store.money import Payer

    return Payer(USER, KEY)
