"""Pure engine rules (no AWS): the dispatcher's backoff, freshness, the state mapping, field diffs,
message parsing and the merging of chain continuations."""

from __future__ import annotations

import json

import pytest
from taskcenter import clock, settings
from taskcenter.domain import states
from taskcenter.providers.base import UpstreamState
from taskcenter.services.jobs import polling as engine
from taskcenter.services.jobs import refunds
from taskcenter.services.jobs import retry_worker as retries
from taskcenter.store.models import Task

NOW = 1_760_000_000_000


@pytest.fixture(autouse=True)
def _frozen():
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def task(**fields) -> Task:
    base = {"task_id": "t1", "id": 1, "kind": "task", "platform": "suno", "user_id": 1, "action": "MUSIC",
            "status": states.IN_PROGRESS, "submit_ms": NOW, "created_at": NOW // 1000, "updated_at": NOW // 1000,
            "channel_id": 7, "upstream_id": "u1"}
    base.update(fields)
    return Task(**base)


def test_slow_steps_grow_with_staleness():
    assert [engine.slow_step_minutes(m * 60_000) for m in (0, 9, 10, 29, 30, 119, 120, 10_000)] == \
        [1, 1, 2, 2, 5, 5, 10, 10]


def test_dispatcher_leaves_fresh_tasks_to_their_chain_and_backs_off_stale_ones():
    window = settings.get().poll_fast_window_seconds * 1000
    moved_now = task(updated_at=NOW // 1000, next_poll_at=NOW)
    assert engine.is_fresh(moved_now, NOW) and not engine.dispatcher_should_poll(moved_now, NOW)
    moved_long_ago = task(updated_at=(NOW - window - 3_600_000) // 1000, next_poll_at=NOW - 3_600_000)
    assert not engine.is_fresh(moved_long_ago, NOW)
    # stale for 60 minutes: 5-minute step; minute 60 polls, minute 61..64 do not
    assert engine.dispatcher_should_poll(moved_long_ago, NOW)
    assert not any(engine.dispatcher_should_poll(moved_long_ago, NOW + k * 60_000) for k in range(1, 5))
    assert engine.dispatcher_should_poll(moved_long_ago, NOW + 5 * 60_000)


def test_plan_dispatch_batches_per_channel_and_sends_retries_for_not_started(monkeypatch):
    monkeypatch.setenv("POLL_BATCH_SIZE", "2")
    stale = (NOW - settings.get().poll_fast_window_seconds * 1000 - 60_000) // 1000
    due = [task(task_id=f"a{i}", channel_id=1, updated_at=stale, next_poll_at=NOW - 1) for i in range(3)]
    due += [task(task_id="b0", channel_id=2, updated_at=stale, next_poll_at=NOW - 1)]
    due += [task(task_id="n0", status=states.NOT_START, upstream_id="", attempt=3, next_poll_at=NOW - 1)]
    due += [task(task_id="done", status=states.SUCCESS, updated_at=stale)]  # a lagging index copy
    due += [task(task_id="noid", channel_id=2, upstream_id="", updated_at=NOW // 1000)]  # fresh but has no id
    messages, retries_out, report = engine.plan_dispatch(due, NOW)
    assert [(m.channel_id, m.task_ids) for m in messages] == [(1, ["a0", "a1"]), (1, ["a2"]), (2, ["b0", "noid"])]
    assert all(m.chain == 0 and m.due_ms == NOW for m in messages)
    assert retries_out == [{"task_id": "n0", "attempt": 3, "reason": "start"}]
    assert (report.due, report.polled, report.retries, report.messages) == (7, 5, 1, 3)


def test_field_changes_only_for_what_changed():
    t = task(progress="10%", data={"a": 1}, start_ms=5)
    same = UpstreamState(upstream_id="u1", status=states.IN_PROGRESS, progress="10%", data={"a": 1})
    assert engine.field_changes(t, same, states.IN_PROGRESS, NOW) == {}
    assert engine.field_changes(t, UpstreamState("u1", states.IN_PROGRESS), states.IN_PROGRESS, NOW) == {}
    changed = UpstreamState("u1", states.IN_PROGRESS, progress="50%", data={"a": 2}, extra={"image_url": "x"})
    assert engine.field_changes(t, changed, states.IN_PROGRESS, NOW) == \
        {"data": {"a": 2}, "extra": {"image_url": "x"}, "progress": "50%"}
    fresh_start = task(status=states.SUBMITTED, start_ms=0)
    assert engine.field_changes(fresh_start, UpstreamState("u1", states.IN_PROGRESS), states.IN_PROGRESS, NOW) == \
        {"start_ms": NOW}
    missed_before = task(poll_misses=2, progress="10%", data={"a": 1}, start_ms=5)
    assert engine.field_changes(missed_before, same, states.IN_PROGRESS, NOW) == {"poll_misses": 0}


def test_status_words_are_normalised():
    assert engine.normalise_status("success") == states.SUCCESS
    assert engine.normalise_status("MODAL") == states.MODAL
    assert engine.normalise_status("who-knows") == states.UNKNOWN
    assert engine.normalise_status("") == states.UNKNOWN


def test_terminal_tasks_and_backward_reports_are_unchanged_without_touching_the_store():
    # no AWS here: these return before any read or write
    assert engine.apply_upstream_state(task(status=states.SUCCESS), UpstreamState("u1", states.FAILURE)) == \
        engine.UNCHANGED
    assert engine.apply_upstream_state(task(status=states.IN_PROGRESS), UpstreamState("u1", states.QUEUED)) == \
        engine.UNCHANGED
    assert engine.apply_upstream_state(task(status=states.IN_PROGRESS, data={}, start_ms=5),
                                       UpstreamState("u1", states.IN_PROGRESS)) == engine.UNCHANGED


def test_messages_parse_strictly():
    m = engine.PollMessage.parse(json.dumps({"channel_id": "3", "task_ids": ["a", "b", "a"]}))
    assert (m.channel_id, m.task_ids, m.chain, m.due_ms) == (3, ["a", "b"], 0, 0)
    for bad in ({"channel_id": 3, "task_ids": "a"}, {"channel_id": 3, "task_ids": [""]}, {"task_ids": ["a"]}):
        with pytest.raises((ValueError, KeyError)):
            engine.PollMessage.parse(bad)
    with pytest.raises(ValueError):
        engine.PollMessage.parse("not json")
    assert refunds.RefundMessage.parse('{"task_id": "t", "attempt": 2}') == refunds.RefundMessage("t", 2)
    with pytest.raises((ValueError, KeyError)):
        refunds.RefundMessage.parse({"task_id": "t"})
    assert retries.RetryMessage.parse({"task_id": "t", "attempt": 1}).reason == "retry"


def test_continuations_merge_per_channel_dedupe_and_keep_their_sources(monkeypatch):
    monkeypatch.setenv("POLL_BATCH_SIZE", "3")
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "8")
    run = engine.PollRun()
    run.pending[1].update({"a": (2, "m1"), "b": (5, "m2"), "c": (1, "m3"), "d": (1, "m3")})
    run.pending[2].update({"x": (1, "m4")})
    out = run.continuations()
    assert [(m.channel_id, m.task_ids, m.chain, sources) for m, sources in out] == [
        (1, ["a", "b", "c"], 5, {"m1", "m2", "m3"}), (1, ["d"], 1, {"m3"}), (2, ["x"], 1, {"m4"})]
    delay = engine.aligned_chain_delay(NOW)
    assert all(m.due_ms == NOW + delay * 1000 and m.delay_s == delay for m, _ in out)


def test_chain_links_land_on_a_shared_grid(monkeypatch):
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "8")
    base = 1_760_000_000_000 - 1_760_000_000_000 % 8_000  # a slot boundary
    due_s = {(base + ms) // 1000 + engine.aligned_chain_delay(base + ms) for ms in (0, 1_500, 3_999, 7_999)}
    assert due_s == {base // 1000 + 8}  # four chains polled at different moments: the same next slot
    assert all(1 <= engine.aligned_chain_delay(base + ms) <= 8 for ms in range(0, 16_000, 250))
    monkeypatch.setenv("POLL_CHAIN_DELAY_SECONDS", "0")
    assert engine.aligned_chain_delay(base + 3_000) == 0


FORWARDED: list[dict] = []


def _capture(body: dict) -> bool:
    FORWARDED.append(body)
    return True


def test_retry_messages_of_another_kind_are_forwarded_and_unknown_kinds_refused(monkeypatch):
    import dataclasses

    from taskcenter.services import platforms
    from taskcenter.services.task_api_v1 import manual_retry

    row = platforms.TABLE["tikmatrix"]
    monkeypatch.setitem(platforms.TABLE, "tikmatrix",
                        dataclasses.replace(row, message_kinds={**row.message_kinds, "test_page": _capture}))
    assert retries.retry_from_message('{"kind": "test_page", "page": 2}') == retries.FORWARDED
    assert FORWARDED == [{"kind": "test_page", "page": 2}]
    with pytest.raises(ValueError):
        retries.retry_from_message({"kind": "nobody_knows"})
    assert row.message_kinds["v1_retry_all_page"] is manual_retry.handle_retry_message
