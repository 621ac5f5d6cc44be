"""The keys-only poll index (docs/engine.md, "Polling"; docs/decisions.md): the dispatcher reads the index's
keys, then the tasks, and acts on the items as stored; a move or a progress write of a task in the index does
not write its entry (priced by tests/bench/bench_cost_model.py's recorder, from the model's projections); and
while the staged migration has not built the index (docs/deploy.md), the dispatcher reads the one before it,
or finds nothing, without failing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.domain.errors import Unavailable
from taskcenter.services.admin import operations as admin
from taskcenter.services.jobs import polling
from taskcenter.store import poll_reads
from taskcenter.store import tasks as task_store
from taskcenter.store.models import Task

from tests.bench.bench_cost_model import CapacityRecorder
from tests.engine_support import SCHEDULE_EVENT, FakeUpstream, drain, install_fake_upstream, new_charged_task, sqs_event

POLL_INDEX = Task.poll_due.Meta.index_name  # type: ignore[attr-defined]
TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
BIG_DATA = {"clips": [{"id": f"clip{i}", "status": "streaming", "lyric": "la " * 600} for i in range(3)]}  # ~5.5 KB


@pytest.fixture
def engine_world(world: Any, frozen_clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")  # moto honours SQS delays in real time
    upstream = FakeUpstream()
    install_fake_upstream(monkeypatch, upstream)
    world.channels["suno"] = admin.create_channel("suno", "https://suno.example.com", name="suno-a")["id"]
    world.extra["upstream"] = upstream
    return world


def dispatch() -> dict[str, Any]:
    from functions import jobs

    return jobs.poll_dispatcher(SCHEDULE_EVENT, None)


def poll(task: Task) -> None:
    from functions import jobs

    assert jobs.poll_worker(sqs_event([{"channel_id": int(task.channel_id), "task_ids": [task.task_id]}]),
                            None) == {"batchItemFailures": []}


def polled_ids() -> set[str]:
    return {i for m in drain("poll") for i in m["task_ids"]}


def test_the_dispatcher_finds_due_tasks_through_the_keys_and_skips_keys_no_longer_due(
        engine_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    user, ch = engine_world.user, engine_world.channels["suno"]
    now = clock.now_ms()
    stale = [new_charged_task(user, ch, status=states.IN_PROGRESS, next_poll_at=now, data=BIG_DATA) for _ in range(5)]
    waiting = new_charged_task(user, 0, status=states.NOT_START, upstream_id="", next_poll_at=now)
    later = new_charged_task(user, ch, next_poll_at=now + 3_600_000)
    shards = {t.poll_shard for t in [*stale, waiting]}

    # the index holds keys only: its table key and its own
    raw = boto3.client("dynamodb")
    for shard in shards:
        reply = raw.query(TableName=Task.Meta.table_name, IndexName=POLL_INDEX,
                          KeyConditionExpression="poll_shard = :s", ExpressionAttributeValues={":s": {"S": shard}})
        assert reply["Items"] and all(set(i) == {"task_id", "poll_shard", "next_poll_at"} for i in reply["Items"])

    clock.advance(settings.get().poll_fast_window_seconds)  # stale: the dispatcher polls them
    report = dispatch()
    assert (report["due"], report["polled"], report["retries"]) == (6, 5, 1)
    assert polled_ids() == {t.task_id for t in stale}
    assert [m["task_id"] for m in drain("retry")] == [waiting.task_id]
    found = {t.task_id: t for t in polling.due_tasks(clock.now_ms())}  # the items as stored, not index entries
    assert (found[stale[0].task_id].status, found[stale[0].task_id].data) == (states.IN_PROGRESS, BIG_DATA)

    # a lagging index: it still returns the keys it had, after one task was deleted, one finished and one was
    # put off for later; those are skipped (not even counted due), the others still polled
    lagging = {s: poll_reads.due_keys(s, clock.now_ms(), 100) for s in {t.poll_shard for t in [*stale, later]}}
    assert sorted(i for ids in lagging.values() for i in ids) == sorted(t.task_id for t in stale)  # (start held)
    task_store.get(stale[0].task_id).delete()
    assert task_store.transition(task_store.get(stale[1].task_id), states.SUCCESS)
    assert task_store.update_in_place(task_store.get(stale[2].task_id),
                                      [Task.next_poll_at.set(clock.now_ms() + 600_000)])
    monkeypatch.setattr(poll_reads, "due_keys", lambda shard, now_ms, limit, after=None: lagging.get(shard, [])[:limit])
    clock.advance(60)
    report = dispatch()
    assert (report["due"], report["polled"], report["retries"]) == (2, 2, 0)
    assert polled_ids() == {stale[3].task_id, stale[4].task_id}


def test_a_move_and_a_progress_write_of_a_task_in_the_index_do_not_write_its_entry(engine_world: Any) -> None:
    up, ch = engine_world.extra["upstream"], engine_world.channels["suno"]
    recorder = CapacityRecorder()
    tasks_table = Task.Meta.table_name
    priced = {name: projection for name, _, projection, _ in recorder.indexes[tasks_table]}
    assert priced[POLL_INDEX] == "KEYS_ONLY"  # read from the model: the recorder prices the index as it is

    task = new_charged_task(engine_world.user, ch, next_poll_at=clock.now_ms() + 5_000)  # submitted: in the index
    up.set(task.upstream_id, states.IN_PROGRESS, progress="10%")
    clock.advance(10)
    with CapacityRecorder() as move:
        poll(task)
    stored = task_store.get(task.task_id)
    assert stored.status == states.IN_PROGRESS and stored.next_poll_at == task.next_poll_at  # still in the index
    assert move.write_requests >= 1 and move.index_wru["user_status_v2"] == 2  # the move re-keys a status index
    assert move.index_wru[POLL_INDEX] == 0

    up.set(task.upstream_id, states.IN_PROGRESS, progress="60%", data=BIG_DATA)
    clock.advance(settings.get().poll_progress_min_interval_seconds)
    with CapacityRecorder() as progress:
        poll(task)
    stored = task_store.get(task.task_id)
    assert (stored.progress, stored.data) == ("60%", BIG_DATA) and stored.next_poll_at == task.next_poll_at
    assert progress.wru >= 6  # a big item: 6 write units for the table write ...
    assert progress.index_wru[POLL_INDEX] == 0 and progress.gsi_wru == 0  # ... and none for any index

    # the same progress write priced as the ALL-projection index before: the entry is the whole item
    as_before = CapacityRecorder()
    as_before.indexes[tasks_table] = [(n, k, "ALL" if n == POLL_INDEX else p, i)
                                      for n, k, p, i in as_before.indexes[tasks_table]]
    up.set(task.upstream_id, states.IN_PROGRESS, progress="70%", data={**BIG_DATA, "more": "x"})
    clock.advance(settings.get().poll_progress_min_interval_seconds)
    with as_before:
        poll(task)
    assert as_before.index_wru[POLL_INDEX] >= 6

    # the entry is written only when the task enters or leaves the index: 1 unit, whatever the item's size
    up.set(task.upstream_id, states.SUCCESS, data=BIG_DATA)
    with CapacityRecorder() as done:
        poll(task)
    assert task_store.get(task.task_id).next_poll_at is None and done.index_wru[POLL_INDEX] == 1


def _tasks_table_of_step(step: int) -> str:
    """A tasks table as the staged migration's `step` leaves it (infra/template_migration.py), in this moto."""
    from infra import template_migration
    from infra.local import cfn

    template = template_migration.step_template(cfn.load_template(TEMPLATE_PATH), step)
    request = cfn.table_request(template_migration.TASKS_TABLE,
                                template["Resources"][template_migration.TASKS_TABLE]["Properties"])
    request["TableName"] = f"test-tasks-step{step}"
    boto3.client("dynamodb").create_table(**request)
    return request["TableName"]


def test_while_the_index_is_not_built_the_dispatcher_reads_the_one_before_or_finds_nothing(
        engine_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import template_migration
    from infra.local import cfn

    user, ch = engine_world.user, engine_world.channels["suno"]
    last = template_migration.steps(cfn.load_template(TEMPLATE_PATH))
    tables = {step: _tasks_table_of_step(step) for step in (last - 2, last - 1)}  # the old index; neither
    ids: dict[int, set[str]] = {}
    for step, table in tables.items():
        monkeypatch.setenv("TASKS_TABLE", table)
        ids[step] = {new_charged_task(user, ch, next_poll_at=clock.now_ms()).task_id for _ in range(3)}
    clock.advance(settings.get().poll_fast_window_seconds)

    # before the replacement (a stack past the listing migration): the new code reads the ALL-projection index
    monkeypatch.setenv("TASKS_TABLE", tables[last - 2])
    assert dispatch()["polled"] == 3 and polled_ids() == ids[last - 2]

    # the step that deletes it, until the new one is ACTIVE: nothing is found, and that is not an error
    monkeypatch.setenv("TASKS_TABLE", tables[last - 1])
    assert dispatch()["due"] == 0 and drain("poll") == []
    with pytest.raises(Unavailable):
        poll_reads.due_for_poll(next(iter(Task.get(i) for i in ids[last - 1])).poll_shard, clock.now_ms(), 10)

    # the last step adds the keys-only index, built from the items' poll keys: nothing was lost
    raw = boto3.client("dynamodb")
    spec = next(g for g in cfn.load_template(TEMPLATE_PATH)["Resources"][template_migration.TASKS_TABLE][
        "Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == POLL_INDEX)
    raw.update_table(TableName=tables[last - 1], GlobalSecondaryIndexUpdates=[{"Create": spec}],
                     AttributeDefinitions=[{"AttributeName": "poll_shard", "AttributeType": "S"},
                                           {"AttributeName": "next_poll_at", "AttributeType": "N"}])
    clock.advance(60)
    assert dispatch()["polled"] == 3 and polled_ids() == ids[last - 1]
