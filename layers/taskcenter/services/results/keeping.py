"""The result keeper (docs/results.md): copies a succeeded task's result files from the upstream's URLs
into the results bucket, streamed, before those URLs expire.

The winner of a task's move to SUCCESS queues one `keep` message (core/lifecycle.queue_result_keeping);
the platform's row says which files (`Platform.result_urls`: {variant: URL}). Each file is downloaded
through providers/download.py (vetted addresses, RESULTS_MAX_BYTES, RESULTS_COPY_TIMEOUT_SECONDS) --
public URLs without credentials, and the files only the task's channel may read (Sora, Veo: their adapters
have `open_result`) through the channel's provider adapter, with its key sent to its own origin only -- and
streamed into a multipart upload (store/result_objects.py). What was copied is recorded on the task
(`results`) file by file, so a redelivery copies only what is missing. A refusal that cannot change
(private address, too large, a 4xx such as an expired URL) fails the copy for good at once; anything else
is raised, and SQS redelivers it (visibility timeout) until RESULTS_COPY_ATTEMPTS deliveries, then it fails
for good too. Failing for good is recorded on the task (`state: failed`, `error`), counted
(ResultsKeepFailed, alarmed) and logged: reported, never lost; the routes then keep serving the upstream's URL.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from taskcenter import queues, settings
from taskcenter.domain import states
from taskcenter.observability import logger, metrics
from taskcenter.providers import download, http
from taskcenter.providers.base import UpstreamError
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core import platform_registry
from taskcenter.services.results.serving import record_of
from taskcenter.store import result_objects
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Task

KEPT, FAILED, PARTIAL = "kept", "failed", "partial"
# Content types a kept file keeps; anything else is stored as bytes (application/octet-stream).
_SERVED_FAMILIES = ("image/", "audio/", "video/")
_PERMANENT = (http.RefusedDestination, http.BadUpstreamUrl, download.TooLarge)
Opener = Callable[..., AbstractContextManager[download.Download]]  # (url, *, max_bytes, total_timeout)


class ChannelGone(UpstreamError):
    """The task's channel was deleted: nobody holds the key its result needs any more."""

    permanent = True


class CopyRefused(UpstreamError):
    """The upstream answered an HTTP error for the file; a 4xx (an expired or removed URL) will not change."""

    def __init__(self, status: int) -> None:
        super().__init__(f"result file: upstream HTTP {status}", status=status,
                         public=f"the upstream answered HTTP {status}")
        self.permanent = 400 <= status < 500 and status not in (408, 429)


def object_key(task: Task, variant: str) -> str:
    return f"{task.platform}/{task.task_id}/{int(task.attempt)}/{variant}"


def keep_from_message(body: str | dict[str, Any], receive_count: int = 1) -> str:
    """One `keep` message: {"task_id", "attempt"}. Returns what happened (kept | failed | stale | ...)."""
    _, task_id, attempt = queues.task_message(body, "keep")
    task = repositories().tasks.get(task_id)
    if task is None or task.status != states.SUCCESS or int(task.attempt) != attempt:
        return "stale"  # retried since, or gone: that attempt's result is not served
    return keep_task(task, last_delivery=receive_count >= settings.get().results_copy_attempts)


def keep_task(task: Task, *, last_delivery: bool = False) -> str:
    record = record_of(task)
    if record.get("state") in (KEPT, FAILED):
        return str(record["state"])  # a duplicate delivery
    files: dict[str, Any] = dict(record.get("files") or {})
    urls = platform_registry.result_urls(task)
    if not urls:  # queued with files, none now (a Sora task whose channel was deleted since): say so
        return _failed_for_good(task, files, "result", ChannelGone(f"task {task.task_id} names no result file now",
                                                                   public="no result file can be named any more"))
    openers: list[Opener | None] = []  # the channel is read once, by the first file that needs copying
    for variant, url in urls.items():
        if variant in files:
            continue
        try:
            if not openers:
                openers.append(_opener(task))
            files[variant] = copy_file(url, object_key(task, variant), opener=openers[0])
        except Exception as error:  # the upstream's, or S3's: redelivered until the last delivery
            if isinstance(error, _PERMANENT) or getattr(error, "permanent", False) or last_delivery:
                return _failed_for_good(task, files, variant, error)
            _record(task, {"state": PARTIAL, "files": files})
            raise
    _record(task, {"state": KEPT, "files": files})
    metrics.add_metric(name="ResultsKept", unit="Count", value=1)
    return KEPT


def _opener(task: Task) -> Opener | None:
    """The channel's adapter's `open_result` when the platform's results need the channel's credential
    (providers/sora.py, providers/veo.py), else None: a public URL, fetched without any credential."""
    row = platform_registry.platform(task.platform)
    if row is None or not hasattr(row.provider, "open_result"):
        return None
    channel = channel_service.get_channel(int(task.channel_id or 0))
    if channel is None:
        raise ChannelGone(f"channel {task.channel_id} of task {task.task_id} is gone",
                          public="the task's channel is gone")
    # info() reads the secret (a TransientUpstreamError when it cannot: redelivered like any other failure)
    return platform_registry.provider_for(channel_service.info(channel)).open_result  # type: ignore[attr-defined]


def copy_file(url: str, key: str, *, opener: Opener | None = None) -> dict[str, Any]:
    """Stream one file from `url` into the results bucket under `key`: {key, size, type}. `opener`: the
    channel adapter's download (with its credential), else a public download without any."""
    with (opener or download.download)(url, max_bytes=settings.get().results_max_bytes,
                                       total_timeout=settings.get().results_copy_timeout_seconds) as reply:
        if reply.status != 200:
            raise CopyRefused(reply.status)
        content_type = reply.content_type if reply.content_type.startswith(_SERVED_FAMILIES) \
            else "application/octet-stream"
        stored = result_objects.current().put_stream(key, reply.chunks, content_type)
    return {"key": stored.key, "size": stored.size, "type": stored.content_type}


def _failed_for_good(task: Task, files: dict[str, Any], variant: str, error: Exception) -> str:
    public = error.public if isinstance(error, UpstreamError) else "the copy failed"
    _record(task, {"state": FAILED, "files": files, "error": f"{variant}: {public}"[:500]})
    metrics.add_metric(name="ResultsKeepFailed", unit="Count", value=1)
    logger.error("result not kept", extra={"task_id": task.task_id, "variant": variant,
                                           "reason": getattr(error, "message", repr(error))[:500]})
    return FAILED


def _record(task: Task, record: dict[str, Any], attempts: int = 3) -> None:
    """Write the record on the task (conditional on its version: a concurrent writer makes us re-read)."""
    for _ in range(attempts):
        if repositories().tasks.update(task, {"results": record}):
            return
        repositories().tasks.refresh(task)
        if task.status != states.SUCCESS:
            return
    raise RuntimeError(f"task {task.task_id}: results record lost {attempts} races")
