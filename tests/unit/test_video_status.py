"""The video adapters' status mapping, one table per platform and the shared rules written once
(providers/video_status.py; docs/video.md "Platforms"): every status word of Seedance (Volcengine Ark) and
Sora (the OpenAI Videos API) as each adapter maps a reply, and the per-id poll both run. Pure: no HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.providers import seedance, sora, video_status
from taskcenter.providers.base import PermanentUpstreamError, TransientUpstreamError

SEEDANCE = [("queued", states.QUEUED, "10%"), ("Pending", states.QUEUED, "10%"),
            ("running", states.IN_PROGRESS, "50%"), ("processing", states.IN_PROGRESS, "50%"),
            ("succeeded", states.SUCCESS, "100%"), ("failed", states.FAILURE, "100%"),
            ("cancelled", states.FAILURE, "100%"), ("expired", states.FAILURE, "100%")]
SORA = [("queued", states.QUEUED), ("pending", states.QUEUED), ("in_progress", states.IN_PROGRESS),
        ("PROCESSING", states.IN_PROGRESS), ("completed", states.SUCCESS), ("failed", states.FAILURE),
        ("cancelled", states.FAILURE), ("rendering_later", states.UNKNOWN)]


def test_each_platform_declares_one_table_applied_by_the_shared_rules() -> None:
    for module in (seedance, sora):
        assert isinstance(module.STATUS, video_status.StatusTable)
        for status in module.STATUS.words.values():
            assert isinstance(status, video_status.Status) and status.state in states.ALL_STATUSES
        assert all(word == word.lower() for word in module.STATUS.words)


@pytest.mark.parametrize(("word", "state", "progress"), SEEDANCE)
def test_seedance_words(word: str, state: str, progress: str) -> None:
    body = {"id": "cgt-1", "status": word, "content": {"video_url": "https://v/1.mp4"}}
    got = seedance.task_to_state(body)
    assert (got.status, got.progress) == (state, progress)
    assert got.fail_reason == (f"task {word}" if state == states.FAILURE else "")


def test_seedance_ignores_words_it_does_not_know_and_fails_a_success_without_a_video() -> None:
    assert seedance.task_to_state({"id": "cgt-1", "status": "paused"}) is None
    assert seedance.task_to_state({"status": "running"}) is None
    empty = seedance.task_to_state({"id": "cgt-1", "status": "succeeded", "content": {}})
    assert (empty.status, empty.fail_reason) == (states.FAILURE, "the upstream reported success without a video")
    failed = seedance.task_to_state({"id": "cgt-1", "status": "failed", "error": {"message": "x" * 900}})
    assert failed.fail_reason == "x" * video_status.MAX_REASON


@pytest.mark.parametrize(("word", "state"), SORA)
def test_sora_words(word: str, state: str) -> None:
    got = sora.object_to_state({"id": "video_1", "status": word, "progress": 42})
    assert got.status == state
    assert got.progress == ("100%" if state in states.TERMINAL else "42%")  # the upstream's own progress
    assert got.fail_reason == (f"task {word}" if state == states.FAILURE else "")


@pytest.mark.parametrize(("progress", "shown"), [(None, "0%"), ("abc", "0%"), (-5, "0%"), (250, "100%"), ("7", "7%")])
def test_sora_progress_is_clamped(progress: Any, shown: str) -> None:
    assert sora.object_to_state({"id": "video_1", "status": "in_progress", "progress": progress}).progress == shown


class Reply:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status, self.body = status, body


def test_fetch_each_polls_each_id_once_and_keeps_only_its_own_answer() -> None:
    calls: list[str] = []
    replies = {"a": Reply(200, {"id": "a", "status": "running"}), "b": Reply(404),
               "c": Reply(200, {"id": "someone-else", "status": "running"})}

    def get(upstream_id: str) -> Any:
        calls.append(upstream_id)
        return replies[upstream_id]

    got = video_status.fetch_each(["a", "a", "", "b", "c"], get, lambda r: r.body, seedance.task_to_state)
    assert calls == ["a", "b", "c"] and set(got) == {"a"} and got["a"].status == states.IN_PROGRESS


def test_a_refused_fetch_is_transient() -> None:
    def refuse(reply: Any) -> dict[str, Any]:
        raise PermanentUpstreamError("401 from the upstream", status=401)

    with pytest.raises(TransientUpstreamError):
        video_status.fetch_each(["a"], lambda i: Reply(401), refuse, sora.object_to_state)
