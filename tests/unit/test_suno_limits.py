"""Issue 12 items 13 and 14: the Suno relay's length limits (by model version) and continue_at's range."""

from __future__ import annotations

import math

import pytest
from taskcenter.domain.errors import BadInput
from taskcenter.services.suno import relay as suno_relay


@pytest.mark.parametrize("mv", ["chirp-v3-0", "chirp-v3-5", "chirp-v4", "CHIRP-V4", "V3_5", "V4", "chirp-v2"])
def test_older_models_have_the_older_limits(mv: str) -> None:
    assert suno_relay.limits_for(mv) == suno_relay.TextLimits(prompt=3000, tags=200, title=80)


@pytest.mark.parametrize("mv", ["chirp-v4-5", "chirp-v4-5-plus", "chirp-v5", "V4_5ALL", "V5_5", "chirp-crow", ""])
def test_newer_and_unknown_models_have_the_larger_limits(mv: str) -> None:
    assert suno_relay.limits_for(mv) == suno_relay.TextLimits(prompt=5000, tags=1000, title=100)


@pytest.mark.parametrize(("name", "limit"), [("gpt_description_prompt", 500), ("mv", 64),
                                             ("continue_clip_id", 128)])
def test_other_text_fields_are_bounded(name: str, limit: int) -> None:
    value = "v5" + "x" * (limit - 2)
    assert suno_relay.validate_body("MUSIC", {name: value})[name] == value
    with pytest.raises(BadInput) as caught:
        suno_relay.validate_body("MUSIC", {name: value + "x"})
    assert caught.value.field == name


def test_lyrics_without_a_model_use_the_default_models_limits() -> None:
    assert suno_relay.validate_body("LYRICS", {"prompt": "p" * 3000})["prompt"] == "p" * 3000
    with pytest.raises(BadInput):
        suno_relay.validate_body("LYRICS", {"prompt": "p" * 3001})


@pytest.mark.parametrize("value", [-1, -0.5, 3600.001, 1e300, 10**30, math.nan, math.inf, -math.inf, True, False,
                                   "12"])
def test_continue_at_must_be_finite_seconds_in_range(value: object) -> None:
    with pytest.raises(BadInput) as caught:
        suno_relay.validate_body("MUSIC", {"continue_at": value})
    assert caught.value.field == "continue_at"


@pytest.mark.parametrize("value", [0.5, 12.5, 3600])
def test_continue_at_in_range_is_kept(value: float) -> None:
    assert suno_relay.validate_body("MUSIC", {"continue_at": value})["continue_at"] == value


@pytest.mark.parametrize("value", [0, 0.0])
def test_continue_at_zero_is_not_forwarded_as_new_api(value: float) -> None:
    assert "continue_at" not in suno_relay.validate_body("MUSIC", {"continue_at": value})  # wire 2.1: non-zero


def test_the_spec_stores_shared_fields_in_properties_only() -> None:
    payload = suno_relay.validate_body("MUSIC", {"prompt": "words", "title": "t", "tags": "pop", "continue_at": 3})
    spec = suno_relay.task_spec("MUSIC", "suno_music", payload)
    assert spec.properties["input"] == "words"
    assert spec.payload_from_properties == {"prompt": "input", "mv": "mv", "title": "title", "tags": "tags"}
    described = suno_relay.task_spec("MUSIC", "suno_music", {"gpt_description_prompt": "a calm song"})
    assert described.properties["input"] == "a calm song"
    assert described.payload_from_properties == {"gpt_description_prompt": "input"}
