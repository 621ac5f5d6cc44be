"""The event runner's chaos knobs (docs/chaos.md): every SQS batch delivered twice, and invocations that crash
mid-batch. Same tiny template and handler as tests/e2e/test_event_runner.py, on in-process moto.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from infra.local.runner import EventRunner, discover
from tests.e2e.test_event_runner import SEEN, queue_counts, send, stack  # noqa: F401 - `stack` is a fixture


def chaos_runner(stack: dict[str, Any], lines: list[str], **chaos: Any) -> EventRunner:  # noqa: F811
    queues, schedules = discover(stack["template"], stack["resources"].queues)
    return EventRunner(queues, schedules, stack["sqs"], visibility_scale=0.0, wait_seconds=0, log=lines.append,
                       **chaos)


def test_duplicate_delivery_gives_the_same_records_twice_then_deletes(stack):  # noqa: F811
    lines: list[str] = []
    runner = chaos_runner(stack, lines, duplicate=True)
    ids = send(stack, {"n": 1}, {"n": 2}, {"n": 3})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)

    assert sorted(summary["deleted"]) == sorted(ids) and summary["failed"] == []
    seen = Counter((r["messageId"], r["receiptHandle"], r["body"]) for r in SEEN)
    assert len(seen) == 3 and set(seen.values()) == {2}  # the very same records, twice
    assert runner.chaos["duplicated_batches"] == 1 and runner.chaos["duplicated_records"] == 3
    assert any("chaos:" in line and "delivered twice" in line for line in lines)
    assert queue_counts(stack, "WorkQueue") == (0, 0)


def test_a_message_failed_by_either_delivery_is_not_deleted(stack):  # noqa: F811
    runner = chaos_runner(stack, [], duplicate=True)
    ids = send(stack, {"n": 1}, {"n": 2, "fail": True})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)
    assert summary["deleted"] == [ids[0]] and summary["failed"] == [ids[1]]


def test_a_crash_handles_the_first_half_and_deletes_nothing(stack):  # noqa: F811
    lines: list[str] = []
    runner = chaos_runner(stack, lines, crash_rate=1.0)
    ids = send(stack, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)

    assert summary["deleted"] == [] and sorted(summary["failed"]) == sorted(ids)
    assert len(SEEN) == 2  # the handler saw half the batch before the crash
    assert runner.chaos["crashed_batches"] == 1
    assert any("chaos:" in line and "crashed mid-batch" in line for line in lines)
    # every message comes back (visibility scaled to 0) and is handled once the crashes stop
    runner.crash_rate = 0.0
    again = runner.poll_once(runner.queue_sources[0], wait_seconds=0)
    assert sorted(again["deleted"]) == sorted(ids)


def test_knobs_off_change_nothing(stack):  # noqa: F811
    runner = chaos_runner(stack, [])
    send(stack, {"n": 1}, {"n": 2})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)
    assert len(summary["deleted"]) == 2 and len(SEEN) == 2
    assert runner.chaos == {"duplicated_batches": 0, "duplicated_records": 0, "crashed_batches": 0,
                            "crashed_records_seen": 0}
