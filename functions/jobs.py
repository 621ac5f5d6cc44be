"""Background jobs (docs/engine.md): EventBridge schedules and SQS consumers, a few lines each.

The work is in taskcenter.services.jobs (polling, refunds, retry_worker, sweeper); docs/engine.md describes it.
SQS consumers report partial batch failures with Powertools (a failed record is redelivered and, after
the queue's maxReceiveCount, goes to its dead-letter queue); every consumer is idempotent.

The services and Powertools' batch utility are imported inside the handlers: app.py registers every
blueprint, so each API function imports this module too, and module-level imports here would add the
engine and the batch utility to every route's cold start (tests/bench/bench_cold_start.py).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate
from taskcenter.observability import flush_metrics

bp = Blueprint(__name__)

# Read by the template generator (infra/template.py): the tables and queues each function may touch.
PERMISSIONS = {
    "poll_dispatcher": {"tables": {"tasks": "r"}, "queues": {"poll": "send", "retry": "send"}},
    # ledger, users, credentials: a video's move to SUCCESS carries its settlement (docs/video.md)
    "poll_worker": {"tables": {"tasks": "rw", "channels": "r", "counters": "rw", "ledger": "rw", "users": "rw",
                               "credentials": "rw"},
                    "queues": {"poll": "send", "refund": "send", "retry": "send"}, "secrets": "read", "timeout": 60},
    "refund_worker": {"tables": {"tasks": "rw", "ledger": "rw", "users": "rw", "credentials": "rw",
                                 "counters": "rw"}},  # a refund counts its ledger entry (docs/usage-log.md)
    "retry_worker": {"tables": {"tasks": "rw", "channels": "r", "counters": "rw", "users": "rw",
                                "credentials": "rw", "ledger": "rw"},
                     "queues": {"retry": "send", "poll": "send", "refund": "send"}, "secrets": "read", "timeout": 120,
                     "kms": "decrypt"},  # the one function that submits v1 tasks to the host (script_secrets.py)
    "timeout_sweeper": {"tables": {"tasks": "rw", "counters": "rw"}, "queues": {"refund": "send", "retry": "send"},
                        "timeout": 300},
    "reconciler": {"tables": {"tasks": "r", "ledger": "r", "users": "r"}, "queues": {"refund": "send"},
                   "timeout": 300},
    # Streams one file at a time (docs/results.md): memory is about one multipart part, not the file. Reads
    # the task's channel and its secret: Sora's and Veo's results are downloaded with the channel's key.
    "keep_worker": {"tables": {"tasks": "rw", "channels": "r"}, "results": "write", "secrets": "read",
                    "timeout": 300, "memory": 512},
}


def _consume(event: Any, record_handler: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    try:
        return process_partial_response(event=event.to_dict(), record_handler=record_handler,
                                        processor=BatchProcessor(event_type=EventType.SQS), context=event.context)
    finally:
        flush_metrics()


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="poll_dispatcher")
def poll_dispatcher(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import polling as engine

    try:
        return engine.dispatch_due_polls().__dict__
    finally:
        flush_metrics()


@bp.on_sqs_message(queue="poll", batch_size=10, maximum_batching_window_in_seconds=2, name="poll_worker")
def poll_worker(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import polling as engine

    run = engine.PollRun()
    response = _consume(event, lambda record: run.poll_record(record.body, record.message_id))
    failed = run.send_continuations()
    reported = response.setdefault("batchItemFailures", [])
    already = {item["itemIdentifier"] for item in reported}
    reported.extend({"itemIdentifier": m} for m in sorted(failed - already))
    return response


@bp.on_sqs_message(queue="refund", batch_size=10, name="refund_worker")
def refund_worker(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import refunds

    return _consume(event, lambda record: refunds.refund_from_message(record.body))


@bp.on_sqs_message(queue="retry", batch_size=5, name="retry_worker")
def retry_worker(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import retry_worker as retries

    return _consume(event, lambda record: retries.retry_from_message(record.body))


@bp.on_sqs_message(queue="keep", batch_size=1, name="keep_worker")
def keep_worker(event: Any) -> dict[str, Any]:
    from taskcenter.services.results import keeping

    # One file copy can take minutes: one message per invocation, its receive count bounds the retries.
    return _consume(event, lambda record: keeping.keep_from_message(
        record.body, int(record.attributes.approximate_receive_count or 1)))


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="timeout_sweeper")
def timeout_sweeper(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import sweeper

    try:
        return sweeper.sweep_timeouts().__dict__
    finally:
        flush_metrics()


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="reconciler")
def reconciler(event: Any) -> dict[str, Any]:
    from taskcenter.services.jobs import refunds

    try:
        return refunds.reconcile().__dict__
    finally:
        flush_metrics()

