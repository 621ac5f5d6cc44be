"""What the result routes ask of a kept result (docs/results.md): /mj/image/{id}, /suno/result/{id}/{variant}
and the video content route redirect to `presigned_result` when the task's file was kept, and fall back to
the upstream's URL while it was not (the keeper not done yet, or the copy failed for good)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter import settings
from taskcenter.store import result_objects

if TYPE_CHECKING:
    from taskcenter.store.models import Task


def record_of(task: Task) -> dict[str, Any]:
    """The keeper's record on the task ({} before the keeper ran)."""
    value = getattr(task, "results", None)
    return dict(value) if isinstance(value, dict) else {}


def kept_file(task: Task, variant: str) -> dict[str, Any] | None:
    entry = (record_of(task).get("files") or {}).get(variant)
    return dict(entry) if isinstance(entry, dict) and entry.get("key") else None


def kept_variants(task: Task) -> set[str]:
    return {name for name in (record_of(task).get("files") or {}) if kept_file(task, name) is not None}


def presigned_result(task: Task, variant: str) -> str | None:
    """A short-lived URL of the kept copy of the task's `variant` (RESULTS_URL_SECONDS), or None when there is
    none (not kept yet, failed for good, or no such variant)."""
    entry = kept_file(task, variant)
    if entry is None:
        return None
    return result_objects.current().presigned_get(str(entry["key"]), settings.get().results_url_seconds)
