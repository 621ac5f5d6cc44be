"""Issue 12 items 13 and 14: oversized Suno fields, `continue_at` out of range, and the task item size guard.

Before: a 250,000-character ASCII or 40,000-character CJK prompt (stored twice, JSON-escaped) overflowed
DynamoDB's 400 KB item and answered 500; continue_at took negatives, 1e300 and 30-digit integers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from taskcenter.store.item_size import MAX_ITEM_BYTES, model_size
from taskcenter.store.models import Task

from tests.integration import suno_support
from tests.integration.hostile_support import assert_mj_refusal, assert_suno_refusal, request, snapshot

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

ASCII_250K = "a" * 250_000
CJK_40K = "\u4e2d" * 40_000
BODY_CAP = 256 * 1024


def _raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()  # what a client sends: UTF-8, not \u escapes


@pytest.mark.parametrize("field", ["prompt", "title", "tags", "gpt_description_prompt"])
@pytest.mark.parametrize("text", [ASCII_250K, CJK_40K], ids=["250000 ASCII", "40000 CJK"])
def test_oversized_suno_text_is_a_400_before_anything_is_written(client: Any, suno_world: Any, suno_sim: Any,
                                                                 field: str, text: str) -> None:
    before, sent = snapshot(), len(suno_sim.submits)
    for action in ("music", "lyrics"):
        body = {"prompt": "a song", field: text}
        raw = _raw(body)
        assert len(raw) < BODY_CAP  # under the body cap: the field's length is what is refused
        status, reply = request(client, "POST", f"/suno/submit/{action}", suno_world.user.relay_headers(), raw=raw)
        assert_suno_refusal(status, reply)
        assert reply["code"] == "invalid_request" and field in reply["message"], reply
    assert snapshot() == before and len(suno_sim.submits) == sent


def test_the_longest_accepted_suno_request_is_stored_once_and_fits(client: Any, suno_world: Any,
                                                                   suno_sim: Any) -> None:
    """The largest fields the limits allow (v4.5: 5,000 / 1,000 / 100), in the widest characters (an emoji is
    12 bytes JSON-escaped): submitted, and the prompt is in the task item once."""
    body = {"prompt": "\U0001f600" * 5000, "tags": "\U0001f3b5" * 1000, "title": "\U0001f3b6" * 100,
            "mv": "chirp-v4-5", "gpt_description_prompt": "\U0001f3a4" * 500, "continue_at": 12.5}
    status, reply = request(client, "POST", "/suno/submit/music", suno_world.user.relay_headers(), raw=_raw(body))
    assert status == 200, reply
    task = Task.get(reply["data"])
    stored = json.dumps(task.properties)
    assert stored.count(json.dumps(body["prompt"])[1:-1]) == 1  # stored once (it was twice)
    assert stored.count(json.dumps(body["tags"])[1:-1]) == 1
    assert task.properties["input"] == body["prompt"]  # the dashboard still shows it
    assert model_size(task) < MAX_ITEM_BYTES // 2
    assert suno_sim.submits[-1].body == body  # the upstream still gets every field


@pytest.mark.parametrize(("mv", "prompt", "tags", "title"), [("chirp-v3-0", 3000, 200, 80),
                                                               ("chirp-v4", 3000, 200, 80),
                                                               ("chirp-v4-5", 5000, 1000, 100),
                                                               ("chirp-v5", 5000, 1000, 100)])
def test_suno_limits_follow_the_model_version(client: Any, suno_world: Any, suno_sim: Any, mv: str, prompt: int,
                                              tags: int, title: int) -> None:
    at_limit = {"mv": mv, "prompt": "p" * prompt, "tags": "t" * tags, "title": "x" * title}
    status, reply = request(client, "POST", "/suno/submit/music", suno_world.user.relay_headers(), at_limit)
    assert status == 200, reply
    before = snapshot()
    for name in ("prompt", "tags", "title"):
        over = {**at_limit, name: at_limit[name] + "y"}
        status, reply = request(client, "POST", "/suno/submit/music", suno_world.user.relay_headers(), over)
        assert_suno_refusal(status, reply)
        assert name in reply["message"], reply
    assert snapshot() == before


@pytest.mark.parametrize("raw_value", ["-1", "-0.001", "3600.5", "1e300", "1" * 30, "true", '"12"', "[]"])
def test_continue_at_out_of_range_or_of_the_wrong_type_is_a_400(client: Any, suno_world: Any, suno_sim: Any,
                                                                raw_value: str) -> None:
    before, sent = snapshot(), len(suno_sim.submits)
    raw = ('{"prompt": "extend it", "continue_clip_id": "c1", "continue_at": ' + raw_value + "}").encode()
    status, reply = request(client, "POST", "/suno/submit/music", suno_world.user.relay_headers(), raw=raw)
    assert_suno_refusal(status, reply)
    # 1e300: refused by the body's parser already (DynamoDB could not store it), the others by the field's rule
    assert "continue_at" in reply["message"] or (raw_value == "1e300" and "out of range" in reply["message"]), reply
    assert snapshot() == before and len(suno_sim.submits) == sent


@pytest.mark.parametrize("value", [0, 12.5, 3600])
def test_continue_at_in_range_is_forwarded_as_a_number(client: Any, suno_world: Any, suno_sim: Any,
                                                       value: float) -> None:
    body = {"prompt": "extend it", "continue_clip_id": "c1", "continue_at": value}
    status, reply = request(client, "POST", "/suno/submit/music", suno_world.user.relay_headers(), body)
    assert status == 200, reply
    # 0 is not forwarded, as new-api forwards continue_at only when non-zero (newapi-relay-wire.md 2.1)
    assert suno_sim.submits[-1].body.get("continue_at") == (value or None)


# ---------------------------------------------------------------- the item size guard (every platform)
@pytest.fixture
def mj_world(world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    # Never reached: the refusal comes before any upstream call. Allow-listed so creation would proceed.
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "127.0.0.1:9")
    admin.create_channel("midjourney", "http://127.0.0.1:9", name="mj", secret="s")
    channels.clear_cache()
    yield world
    channels.clear_cache()


def _keep_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Store the request's images in the task, as before issue 14: the only way left to reach 400 KB here
    (MJ images now stay out of the item), to prove the size guard and its backstop still hold."""
    from taskcenter.services.midjourney import relay

    monkeypatch.setattr(relay, "without_images", lambda body: (body, []))


def test_an_mj_task_past_dynamodbs_item_limit_is_a_413_and_writes_nothing(client: Any, mj_world: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside every field limit and under the body cap, yet past 400 KB as stored: 8,000 emoji (4 bytes each
    in the body, 12 JSON-escaped, kept as the prompt and in the upstream body) and ~225 KB of base64."""
    prompt = "\U0001f600" * 8000
    image = "data:image/png;base64," + "A" * (BODY_CAP - 40_000)
    raw = _raw({"prompt": prompt, "base64Array": [image]})
    assert len(raw) < BODY_CAP
    _keep_images(monkeypatch)
    before = snapshot()
    status, reply = request(client, "POST", "/mj/submit/imagine", mj_world.user.relay_headers(), raw=raw)
    assert_mj_refusal(status, reply, 413)
    assert f"item limit is {MAX_ITEM_BYTES:,}" in reply["description"], reply  # computed before the write
    assert snapshot() == before


def test_an_mj_request_with_megabytes_of_images_is_stored_without_them(client: Any, mj_world: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same request as above, as the relay really stores it: the images only go upstream (here
    unreachable: 502, nothing charged, the held task withdrawn), the task item keeps the prompt and fits."""
    from taskcenter.services.core import submission

    stored: list[Task] = []
    dispatch = submission.dispatch_to_upstream

    def look_then_dispatch(task: Task, **kwargs: Any) -> Task:
        stored.append(Task.get(task.task_id))  # the item as the charge transaction wrote it
        return dispatch(task, **kwargs)

    monkeypatch.setattr(submission, "dispatch_to_upstream", look_then_dispatch)
    raw = _raw({"prompt": "\U0001f600" * 8000, "base64Array": ["data:image/png;base64," + "A" * 3_000_000]})
    status, reply = request(client, "POST", "/mj/submit/imagine", mj_world.user.relay_headers(), raw=raw)
    assert status == 502 and reply["code"] == 5, reply
    (task,) = stored
    assert model_size(task) < MAX_ITEM_BYTES // 2 and "AAAA" not in json.dumps(task.properties)
    assert [t for t in Task.scan() if t.user_id == mj_world.user.user_id] == []


def test_dynamodbs_own_size_refusal_is_a_413_too(client: Any, mj_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backstop: were the estimate ever short of what DynamoDB (here moto) counts, its ValidationException
    inside the charge transaction is still a 413 with nothing written, not a 500."""
    from taskcenter.store import item_size

    monkeypatch.setattr(item_size, "require_fits", lambda item, what="task": None)
    _keep_images(monkeypatch)
    raw = _raw({"prompt": "\U0001f600" * 8000, "base64Array": ["data:image/png;base64," + "A" * (BODY_CAP - 40_000)]})
    before = snapshot()
    status, reply = request(client, "POST", "/mj/submit/imagine", mj_world.user.relay_headers(), raw=raw)
    assert_mj_refusal(status, reply, 413)
    assert "DynamoDB refused the item size" in reply["description"], reply
    assert snapshot() == before


@pytest.mark.parametrize("text", [ASCII_250K, CJK_40K], ids=["250000 ASCII", "40000 CJK"])
def test_oversized_mj_prompt_is_a_400(client: Any, mj_world: Any, text: str) -> None:
    before = snapshot()
    for kind in ("imagine", "shorten"):
        status, reply = request(client, "POST", f"/mj/submit/{kind}", mj_world.user.relay_headers(),
                                raw=_raw({"prompt": text}))
        assert_mj_refusal(status, reply)
        assert "prompt" in reply["description"], reply
    assert snapshot() == before


def test_mj_base64_with_unicode_spaces_is_not_base64(client: Any, mj_world: Any) -> None:
    before = snapshot()
    image = "data:image/png;base64,AAAA" + "\u3000" * 10
    status, reply = request(client, "POST", "/mj/submit/describe", mj_world.user.relay_headers(),
                            raw=_raw({"base64": image}))
    assert_mj_refusal(status, reply)
    assert snapshot() == before


def test_an_upstream_result_that_would_overflow_the_item_is_left_out_and_the_task_still_ends(
        client: Any, world: Any, frozen_clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An 8,000-emoji prompt fits at creation (~190 KB), but midjourney-proxy echoes it four times in its task
    (prompt, promptEn, description, finalPrompt: ~380 KB more, JSON-escaped). Before: every poll's write
    failed (DynamoDB's ValidationException), the task stayed IN_PROGRESS until the sweeper. Now the raw
    result is left out of the item, the rest is stored and the task ends SUCCESS."""
    from taskcenter import clock
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels
    from taskcenter.services.jobs import polling as engine

    from infra.simulators.midjourney import MidjourneySimulator, SimConfig

    sim = MidjourneySimulator(config=SimConfig(step_seconds=1), now_ms=clock.now_ms).start()
    try:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{sim.host}:{sim.port}")
        admin.create_channel("midjourney", sim.url, name="mj-sim", secret="sim-secret")
        channels.clear_cache()
        prompt = "\U0001f600" * 8000
        status, reply = request(client, "POST", "/mj/submit/imagine", world.user.relay_headers(),
                                raw=_raw({"prompt": prompt}))
        assert status == 200, reply
        task = Task.get(reply["result"])
        assert model_size(task) < MAX_ITEM_BYTES
        clock.advance(10)
        result = engine.poll_batch(engine.PollMessage(int(task.channel_id), [task.task_id]))
        assert result.outcomes.get(task.task_id) == engine.MOVED
        task = Task.get(task.task_id)
        assert task.status == "SUCCESS" and model_size(task) <= MAX_ITEM_BYTES
        assert "omitted" in task.data and task.extra["image_url"]  # what the views need is kept
        status, view = request(client, "GET", f"/mj/task/{task.task_id}/fetch", world.user.relay_headers())
        assert status == 200 and view["status"] == "SUCCESS" and view["prompt"] == prompt, view
    finally:
        sim.stop()
        channels.clear_cache()
