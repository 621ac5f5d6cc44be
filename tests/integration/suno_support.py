"""Fixtures and helpers shared by the Suno relay and task listing tests (the simulator in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.simulators.suno import SUBMIT_MESSAGE, SunoSimConfig, SunoSimulator

__all__ = ["SUBMIT_MESSAGE", "TASK_DTO_KEYS"]

# new-api's TaskDto (newapi-relay-wire.md §2.5): the relay fetch and the dashboard task listings
TASK_DTO_KEYS = frozenset({
    "id", "created_at", "updated_at", "task_id", "platform", "user_id", "group", "channel_id", "quota", "action",
    "status", "fail_reason", "result_url", "submit_time", "start_time", "finish_time", "progress", "properties",
    "username", "data"})


@pytest.fixture
def suno_sim() -> Iterator[SunoSimulator]:
    with SunoSimulator(config=SunoSimConfig(step_seconds=(1.0, 1.0, 2.0), timeout_s=2.0)) as sim:
        yield sim


@pytest.fixture
def suno_world(aws: dict[str, str], suno_sim: SunoSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The seeded world with one suno channel on the simulator (the private address allow-listed)."""
    from taskcenter.services.core import channels

    from tests.support import seed_world

    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", suno_sim.host_port)
    channels.clear_cache()
    world = seed_world(channels={"suno": suno_sim.url})
    yield world
    channels.clear_cache()


def call(client: Any, method: str, path: str, headers: dict[str, str], body: Any = None,
         raw: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    reply = client.http.request(method, path, headers=headers, body=payload)
    return reply.status_code, json.loads(reply.body), dict(reply.headers)


def submit(client: Any, account: Any, action: str = "music", body: Any = None,
           headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    return call(client, "POST", f"/suno/submit/{action}", {**account.relay_headers(), **(headers or {})},
                {"prompt": "a calm song about the sea"} if body is None else body)


def listing(client: Any, account: Any, query: str = "", *, admin: bool = False) -> tuple[int, Any]:
    path = "/api/task/" if admin else "/api/task/self"
    status, body, _ = call(client, "GET", f"{path}?{query}" if query else path, account.dashboard_headers())
    return status, body


def write_tasks(rows: list[dict[str, Any]]) -> list[Any]:
    """Write tasks (store.tasks.build_task fields) with their listing counters, as the stream consumer would.

    Test and benchmark data only: BatchWrite for the tasks; under the `aws` fixture the in-process stream
    consumer counts them (tests/support.drain_task_stream), elsewhere one ADD per counter item.
    """
    from taskcenter.domain import listing_plan as listing
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import Task

    from tests import support

    built = [task_store.build_task(**row) for row in rows]
    deltas = listing.merge_deltas(*(listing.counter_deltas_for_create(task_store.listing_facts(t)) for t in built))
    with Task.batch_write() as batch:
        for task in built:
            batch.save(task)
    if support.active_stream is not None:
        return built
    support.add_listing_counts(deltas)
    return built


def run_engine(sim: SunoSimulator, task_ids: list[str], rounds: int) -> None:
    """The jobs as the event runner runs them (dispatcher, then the queues), both clocks moved 3 s a round,
    until every task in `task_ids` is finished or `rounds` have run."""
    from taskcenter import clock
    from taskcenter.domain import states
    from taskcenter.store import tasks as task_store

    from functions import jobs
    from tests.engine_support import SCHEDULE_EVENT, run_queue

    for _ in range(rounds):
        clock.advance(3)
        sim.advance(3)
        jobs.poll_dispatcher(SCHEDULE_EVENT, None)
        for queue, handler in (("poll", jobs.poll_worker), ("retry", jobs.retry_worker),
                               ("refund", jobs.refund_worker)):
            run_queue(queue, handler)
        if all(task_store.get(t).status in states.TERMINAL for t in task_ids):
            return
