"""The local event runner (infra/local/runner.py) drives handlers as Lambda would, from a template.

A tiny template and the test handlers below (not the engine's handlers), queues created by the local stack's
template loader on in-process moto: partial batch failures delete only the succeeded messages, the failed
ones come back after the visibility timeout, a message moves to the dead-letter queue after maxReceiveCount
receives, an exception fails the whole batch without stopping the runner, and schedules fire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local import cfn
from infra.local.runner import (
    EventRunner,
    cron_matches,
    discover,
    failed_message_ids,
    rate_seconds,
)

TEMPLATE = """
Globals:
  Function:
    Timeout: 5
Resources:
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn
        maxReceiveCount: 2
  ConsumeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.e2e.test_event_runner.consume_work
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 4
            FunctionResponseTypes: [ReportBatchItemFailures]
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.e2e.test_event_runner.tick
      Timeout: 2
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
"""

SEEN: list[dict[str, Any]] = []  # every record the consumer was given
TICKS: list[tuple[dict[str, Any], Any]] = []
_ticked = threading.Event()


def consume_work(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Test handler: fails the records whose body says so; raises for "explode"."""
    SEEN.extend(event["Records"])
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    if any(b.get("explode") for b in bodies):
        raise RuntimeError("handler crashed")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                  for r, b in zip(event["Records"], bodies, strict=True) if b.get("fail")]}


def tick(event: dict[str, Any], context: Any) -> None:
    TICKS.append((event, context))
    _ticked.set()


@pytest.fixture
def stack() -> Iterator[dict[str, Any]]:
    SEEN.clear()
    TICKS.clear()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        sqs = session.client("sqs")
        template = cfn.parse_template(TEMPLATE)
        resources = cfn.create_resources(template, session.client("dynamodb"), sqs)
        yield {"template": template, "resources": resources, "sqs": sqs}


def runner_for(stack: dict[str, Any], *, visibility_scale: float = 1.0, schedule_scale: float = 1.0,
               lines: list[str] | None = None) -> EventRunner:
    queues, schedules = discover(stack["template"], stack["resources"].queues, schedule_scale=schedule_scale)
    return EventRunner(queues, schedules, stack["sqs"], visibility_scale=visibility_scale, wait_seconds=0,
                       log=(lines.append if lines is not None else lambda _line: None))


def send(stack: dict[str, Any], *bodies: dict[str, Any]) -> list[str]:
    url = stack["resources"].queues["WorkQueue"].url
    return [stack["sqs"].send_message(QueueUrl=url, MessageBody=json.dumps(b))["MessageId"] for b in bodies]


def queue_counts(stack: dict[str, Any], logical_id: str) -> tuple[int, int]:
    attributes = stack["sqs"].get_queue_attributes(
        QueueUrl=stack["resources"].queues[logical_id].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_discovers_the_sources_as_the_template_declares_them(stack):
    runner = runner_for(stack, schedule_scale=0.05)
    (source,) = runner.queue_sources
    assert (source.target.function_id, source.target.handler, source.target.timeout) == (
        "ConsumeFunction", "tests.e2e.test_event_runner.consume_work", 5)
    assert (source.batch_size, source.report_failures, source.visibility_timeout) == (4, True, 1)
    assert (source.max_receive_count, source.dead_letter) == (2, "WorkDeadLetterQueue")
    (schedule,) = runner.schedules
    assert (schedule.target.function_id, schedule.target.timeout, schedule.interval) == ("TickFunction", 2, 3.0)


def test_partial_batch_failure_deletes_only_the_succeeded_messages(stack):
    lines: list[str] = []
    runner = runner_for(stack, lines=lines)
    ids = send(stack, {"n": 1}, {"n": 2, "fail": True}, {"n": 3}, {"n": 4, "fail": True})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)

    assert summary["received"] == 4
    assert sorted(summary["failed"]) == sorted([ids[1], ids[3]])
    assert sorted(summary["deleted"]) == sorted([ids[0], ids[2]])
    # Lambda's record shape
    record = SEEN[0]
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == stack["resources"].queues["WorkQueue"].arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "partial (2 failed)" in lines[-1] and "ConsumeFunction" in lines[-1]

    # the failed two are in flight (not deleted), and nothing else is left
    assert queue_counts(stack, "WorkQueue") == (0, 2)
    assert runner.poll_once(runner.queue_sources[0], wait_seconds=0)["received"] == 0
    time.sleep(1.2)  # the queue's VisibilityTimeout is 1 s: the failed messages reappear, and only they
    again = stack["sqs"].receive_message(QueueUrl=stack["resources"].queues["WorkQueue"].url,
                                         MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted(m["MessageId"] for m in again) == sorted([ids[1], ids[3]])
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}


def test_redrive_to_the_dead_letter_queue_after_max_receive_count(stack):
    runner = runner_for(stack, visibility_scale=0.0)  # failed messages reappear at once
    (message_id,) = send(stack, {"fail": True})
    source = runner.queue_sources[0]
    for _ in range(4):
        runner.poll_once(source, wait_seconds=0)

    assert [r["attributes"]["ApproximateReceiveCount"] for r in SEEN] == ["1", "2"]  # maxReceiveCount = 2
    assert queue_counts(stack, "WorkQueue") == (0, 0)
    dead = stack["sqs"].receive_message(QueueUrl=stack["resources"].queues["WorkDeadLetterQueue"].url,
                                        MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in dead] == [message_id]


def test_an_exception_fails_the_whole_batch_and_the_runner_carries_on(stack):
    lines: list[str] = []
    runner = runner_for(stack, visibility_scale=0.0, lines=lines)
    ids = send(stack, {"n": 1}, {"explode": True})
    summary = runner.poll_once(runner.queue_sources[0], wait_seconds=0)
    assert sorted(summary["failed"]) == sorted(ids) and summary["deleted"] == []
    assert "error" in lines[-1] and "RuntimeError: handler crashed" in lines[-1]
    assert queue_counts(stack, "WorkQueue") == (2, 0)

    # a broken handler module is an error for its invocations, not for the runner
    runner.queue_sources[0].target.handler = "tests.e2e.no_such_module.consume"
    assert runner.poll_once(runner.queue_sources[0], wait_seconds=0)["deleted"] == []
    runner.queue_sources[0].target.handler = "tests.e2e.test_event_runner.consume_work"
    send(stack, {"n": 3})
    # the first two were received twice (maxReceiveCount): redriven; n=3 is handled normally
    assert runner.poll_once(runner.queue_sources[0], wait_seconds=0)["failed"] == []
    assert json.loads(SEEN[-1]["body"]) == {"n": 3}
    assert queue_counts(stack, "WorkQueue") == (0, 0)
    assert queue_counts(stack, "WorkDeadLetterQueue") == (2, 0)


def test_lambda_reading_of_batch_item_failures():
    ids = ["a", "b", "c"]
    assert failed_message_ids({"batchItemFailures": []}, ids, True) == []
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, True) == ["b"]
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ids, True) == ids
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids, True) == ids
    assert failed_message_ids(None, ids, True) == []
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, False) == []


def test_schedules_fire_with_a_scheduled_event_and_a_context(stack):
    _ticked.clear()
    runner = runner_for(stack, schedule_scale=0.005)  # rate(1 minute) -> every 0.3 s
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(TICKS) < 2 and time.monotonic() < deadline:
            _ticked.wait(0.5)
            _ticked.clear()
    finally:
        runner.stop()
    assert len(TICKS) >= 2
    event, context = TICKS[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:")
    assert context.function_name == "TickFunction" and 0 < context.get_remaining_time_in_millis() <= 2000


def test_schedule_expressions():
    assert rate_seconds("rate(1 minute)") == 60 and rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(2 hours)") == 7200 and rate_seconds("cron(0 * * * ? *)") is None
    monday_0915 = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert cron_matches("cron(15 9 * * ? *)", monday_0915)
    assert cron_matches("cron(0/5 * * * ? *)", monday_0915)
    assert not cron_matches("cron(0/10 * * * ? *)", monday_0915)
    assert cron_matches("cron(15 9 ? * 2 *)", monday_0915)  # EventBridge: 2 = Monday
    assert not cron_matches("cron(15 9 ? * 1 *)", monday_0915)


def test_the_real_template_binds_every_consumer_to_a_queue_with_a_dead_letter_queue():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    template = cfn.load_template(root / "template.yaml")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = cfn.create_resources(template, session.client("dynamodb"), session.client("sqs"))
        queues, schedules = discover(template, resources.queues)
    for source in queues:
        assert source.report_failures and source.dead_letter and source.max_receive_count
        assert source.visibility_timeout >= 6 * source.target.timeout
    for schedule in schedules:
        assert schedule.interval is not None or schedule.expression.startswith("cron(")
