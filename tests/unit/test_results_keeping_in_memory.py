"""The result keeper's rules on the in-memory repositories and results bucket (no moto, no network;
docs/results.md): only the winner of a move to SUCCESS queues one keep message; the keeper hands the
download's chunks to the bucket as they come (it never holds the file), records each file on the task,
copies nothing twice, ignores a stale attempt, and records a refusal as failed for good."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.providers import download, http
from taskcenter.services.core import lifecycle, submission
from taskcenter.services.results import keeping, serving
from taskcenter.store import result_objects
from taskcenter.store.memory_results import MemoryResultObjects

from tests.unit.memory_world import World, spec

CHUNK = 64 * 1024
CLIPS = [{"id": "c0", "audio_url": "https://cdn.example/c0.mp3", "image_url": "https://cdn.example/c0.png"},
         {"id": "c1", "audio_url": "https://cdn.example/c1.mp3", "image_url": ""}]


@pytest.fixture
def bucket() -> Iterator[MemoryResultObjects]:
    objects = MemoryResultObjects()
    result_objects.use(objects)
    yield objects
    result_objects.use(None)


def fake_download(monkeypatch: pytest.MonkeyPatch, sizes: dict[str, int], calls: list[str],
                  refuse: Exception | None = None) -> None:
    @contextmanager
    def fake(url: str, *, max_bytes: int, total_timeout: float) -> Iterator[download.Download]:
        calls.append(url)
        if refuse is not None:
            raise refuse
        size = sizes[url]
        chunks = (b"a" * min(CHUNK, size - start) for start in range(0, size, CHUNK))
        yield download.Download(200, "audio/mpeg", size, chunks, url)

    monkeypatch.setattr(keeping.download, "download", fake)


def succeeded(mem: World) -> Any:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    assert lifecycle.move(task, states.SUCCESS, {"data": CLIPS})
    return mem.repos.tasks.get(task.task_id)


def test_only_the_winner_of_the_success_move_queues_one_keep_message(mem: World) -> None:
    mem.add_channel(1)
    task = submission.submit_now(mem.principal, spec())
    stale = mem.repos.tasks.get(task.task_id)
    assert lifecycle.move(task, states.SUCCESS, {"data": CLIPS})
    assert not lifecycle.move(stale, states.SUCCESS, {"data": CLIPS})  # lost the race: no side effect
    assert mem.messages("keep") == [{"task_id": task.task_id, "attempt": 1}]

    failing = submission.submit_now(mem.principal, spec())
    assert lifecycle.move(failing, states.FAILURE, fail_reason="boom")
    assert len(mem.messages("keep")) == 1  # a failed task has nothing to keep


def test_files_are_streamed_recorded_and_not_copied_twice(mem: World, bucket: MemoryResultObjects,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    task = succeeded(mem)
    sizes = {CLIPS[0]["audio_url"]: 5 * 1024 * 1024, CLIPS[0]["image_url"]: 1000, CLIPS[1]["audio_url"]: 70_000}
    calls: list[str] = []
    fake_download(monkeypatch, sizes, calls)
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.KEPT
    task = mem.repos.tasks.get(task.task_id)
    assert sorted(task.results["files"]) == ["0.audio", "0.image", "1.audio"]  # the empty image URL skipped
    assert task.results["files"]["0.audio"]["size"] == 5 * 1024 * 1024
    assert bucket.largest_chunk == CHUNK  # the chunks went on as they came: 5 MiB never held at once
    assert serving.presigned_result(task, "0.audio") == \
        f"memory://results/suno/{task.task_id}/1/0.audio?expires=300"
    assert serving.presigned_result(task, "1.image") is None

    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}) == keeping.KEPT
    assert len(calls) == 3  # a duplicate delivery downloads nothing
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 2}) == "stale"


def test_a_refused_address_is_failed_for_good_at_once(mem: World, bucket: MemoryResultObjects,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    task = succeeded(mem)
    refusal = http.UnsafeAddress("refusing 10.0.0.1", public="the destination resolves to a private address")
    fake_download(monkeypatch, {}, [], refuse=refusal)
    assert keeping.keep_from_message({"task_id": task.task_id, "attempt": 1}, receive_count=1) == keeping.FAILED
    record = mem.repos.tasks.get(task.task_id).results
    assert record["state"] == "failed" and record["error"] == "0.audio: the destination resolves to a private address"
    assert bucket.objects == {}
