"""A video's settlement is part of its move to SUCCESS (docs/video.md, "Pricing and settlement"): the Sora
simulator reports 8 s produced for 4 requested, and the poll's move carries the settle# entry, the balances and
task.quota in one transaction. A process dying right after the winning move (before the terminal hook) no
longer loses the settlement; two racing pollers settle once; the ledger audit holds throughout. A video with
nothing to settle makes the plain move; the poll worker's declared permissions cover the tables its settling move
writes (moto in-process, which checks no IAM).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from taskcenter import clock
from taskcenter.domain import states
from taskcenter.store import money
from taskcenter.store import tasks as task_store
from taskcenter.store.models import LedgerEntry

from tests.integration.test_video_openai import PER_SECOND, call, quota_of, run_engine
from tests.integration.test_video_openai import sora_sim as sora_sim  # noqa: F401 - fixtures
from tests.integration.test_video_openai import sora_world as sora_world  # noqa: F401
from tests.support import record_dynamodb_calls, serialize_aws_requests


class Crash(BaseException):
    """The process dying (a Lambda timeout, an out-of-memory kill): nothing after the raise runs, no handler
    catches it (a BaseException, as poll_batch catches Exception)."""


class record_tables:  # noqa: N801 - used as a context manager
    """Every DynamoDB table a block reads or writes, by its logical name (taskcenter.config.TABLE_ENV). The
    in-process stream consumer's requests (tests/support.drain_task_stream) are another function's: not counted."""

    WRITES = ("TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem")

    def __enter__(self) -> dict[str, set[str]]:
        from botocore.client import BaseClient
        from taskcenter import config

        logical = {config.table_name(name): name for name in config.TABLE_ENV}
        self.orig, touched = BaseClient._make_api_call, {"r": set(), "rw": set()}
        self.touched = touched

        from tests import support

        def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name == "dynamodb" and not getattr(support._draining, "active",
                                                                                      False):
                names = {next(iter(i.values()))["TableName"] for i in params.get("TransactItems", [])}
                names |= set(params.get("RequestItems") or {}) | ({params["TableName"]} if "TableName" in params
                                                                   else set())
                touched["rw" if operation in self.WRITES else "r"].update(logical.get(n, n) for n in names)
            return self.orig(client, operation, params)

        BaseClient._make_api_call = spy
        return touched

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self.orig


def crash_after_the_winning_move(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first step after a won move to a terminal status raises: where the settlement used to run."""
    from taskcenter.services.core import lifecycle

    def die(task: Any) -> None:
        raise Crash(task.task_id)

    monkeypatch.setattr(lifecycle, "run_terminal_hook", die)


def long_video(client: Any, world: Any, sim: Any) -> Any:
    """A Sora video charged for 4 s that the upstream has finished at 8 s; the task not polled yet."""
    status, video, _ = call(client, "POST", "/v1/videos", world.user, {"prompt": "sim:seconds=8 a long boat"})
    assert status == 200, video
    for _ in range(5):
        clock.advance(3)
        sim.advance(3)
    task = task_store.get(video["id"])
    assert task.status not in states.TERMINAL and int(task.quota) == 4 * PER_SECOND
    return task


def upstream_state(task: Any) -> Any:
    from taskcenter.services.core import channels, platform_registry

    provider = platform_registry.provider_for(channels.info(channels.get_channel(int(task.channel_id))))
    state = provider.fetch([task.upstream_id])[task.upstream_id]
    assert state.status == states.SUCCESS
    return state


def settlements(user_id: int) -> list[tuple[str, str, int]]:
    return [(e.task_id, e.kind, int(e.amount)) for e in LedgerEntry.query(user_id, consistent_read=True)
            if e.entry.startswith("settle#")]


def assert_settled_once(world: Any, task_id: str, before: int) -> None:
    assert settlements(world.user.user_id) == [(task_id, "charge", 4 * PER_SECOND)]
    assert quota_of(world.user.user_id) == before - 8 * PER_SECOND
    assert money.audit_user(world.user.user_id).ok
    task = task_store.get(task_id)
    assert (task.status, int(task.quota), task.settled_ms is not None) == (states.SUCCESS, 8 * PER_SECOND, True)


def test_a_crash_right_after_the_winning_move_still_ends_settled_once(
        sora_world, sora_sim, client, frozen_clock, monkeypatch) -> None:  # noqa: F811
    from taskcenter.services.jobs.polling import PollMessage, poll_batch

    before = quota_of(sora_world.user.user_id)
    task = long_video(client, sora_world, sora_sim)
    crash_after_the_winning_move(monkeypatch)
    with record_dynamodb_calls() as calls, pytest.raises(Crash):
        poll_batch(PollMessage(channel_id=int(task.channel_id), task_ids=[task.task_id]))
    assert [op for op, _ in calls].count("TransactWriteItems") == 1  # the move and its settlement: one write
    assert_settled_once(sora_world, task.task_id, before)
    # SQS delivers the message again (the invocation died), the dispatcher keeps going: nothing more moves
    monkeypatch.undo()
    poll_batch(PollMessage(channel_id=int(task.channel_id), task_ids=[task.task_id]))
    run_engine(sora_sim, [task.task_id], rounds=3)
    assert_settled_once(sora_world, task.task_id, before)


def test_the_loser_of_two_racing_pollers_settles_nothing(
        sora_world, sora_sim, client, frozen_clock, monkeypatch) -> None:  # noqa: F811
    from taskcenter.services.core.upstream_state import LOST_RACE, apply_upstream_state

    before = quota_of(sora_world.user.user_id)
    task = long_video(client, sora_world, sora_sim)
    first, second = task_store.get(task.task_id), task_store.get(task.task_id)  # both read before either wrote
    state = upstream_state(task)
    crash_after_the_winning_move(monkeypatch)
    with pytest.raises(Crash):
        apply_upstream_state(first, state)  # wins, then dies
    assert apply_upstream_state(second, state) == LOST_RACE
    assert_settled_once(sora_world, task.task_id, before)


def test_two_concurrent_pollers_see_one_settlement(sora_world, sora_sim, client, frozen_clock) -> None:  # noqa: F811
    from taskcenter.services.core.upstream_state import LOST_RACE, MOVED, apply_upstream_state

    before = quota_of(sora_world.user.user_id)
    task = long_video(client, sora_world, sora_sim)
    copies = [task_store.get(task.task_id) for _ in range(2)]
    state = upstream_state(task)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def poller(copy: Any) -> None:
        start.wait()
        outcomes.append(apply_upstream_state(copy, state))

    with serialize_aws_requests():  # each moto request atomic, as a real DynamoDB request is
        threads = [threading.Thread(target=poller, args=(c,)) for c in copies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == sorted([MOVED, LOST_RACE])
    assert_settled_once(sora_world, task.task_id, before)


def test_a_video_with_nothing_to_settle_makes_the_plain_move(sora_world, sora_sim, client, frozen_clock) -> None:  # noqa: F811
    from taskcenter.services.jobs.polling import PollMessage, poll_batch

    status, video, _ = call(client, "POST", "/v1/videos", sora_world.user, {"prompt": "a boat, as asked"})
    assert status == 200
    for _ in range(5):
        clock.advance(3)
        sora_sim.advance(3)
    task = task_store.get(video["id"])
    with record_tables() as touched:
        poll_batch(PollMessage(channel_id=int(task.channel_id), task_ids=[task.task_id]))
    task = task_store.get(video["id"])
    assert (task.status, int(task.quota), task.settled_ms) == (states.SUCCESS, 4 * PER_SECOND, None)
    assert "tasks" in touched["rw"] and not touched["rw"] & {"ledger", "users", "credentials"}  # no money moved
    assert settlements(sora_world.user.user_id) == [] and money.audit_user(sora_world.user.user_id).ok


def test_the_poll_workers_permissions_cover_its_settling_move(sora_world, sora_sim, client, frozen_clock) -> None:  # noqa: F811
    """The template gives the poll worker the tables functions/jobs.py declares (infra/template.py): a settling
    move it is not allowed to write would be refused on AWS (moto does not check IAM)."""
    from taskcenter.services.jobs.polling import PollMessage, poll_batch

    from functions.jobs import PERMISSIONS

    before = quota_of(sora_world.user.user_id)
    task = long_video(client, sora_world, sora_sim)
    with record_tables() as touched:
        poll_batch(PollMessage(channel_id=int(task.channel_id), task_ids=[task.task_id]))
    declared = PERMISSIONS["poll_worker"]["tables"]
    assert {t for t in touched["rw"] if declared.get(t) != "rw"} == set()
    assert touched["r"] - set(declared) == set()
    assert {"ledger", "users", "credentials"} <= touched["rw"]
    assert_settled_once(sora_world, task.task_id, before)
