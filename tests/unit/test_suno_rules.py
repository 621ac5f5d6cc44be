"""Pure rules of the Suno relay and the listings: action and body validation, upstream status mapping,
paging/time parameter parsing, the simulator's configuration and deterministic progression."""

from __future__ import annotations

import pytest
from taskcenter.domain import states
from taskcenter.domain.errors import BadInput
from taskcenter.providers.suno import item_to_state, map_status
from taskcenter.services.core import listing_executor as listings
from taskcenter.services.suno import relay as suno_relay

from infra.simulators.suno import SunoSimConfig, SunoSimulator


def test_actions_are_case_insensitive_and_priced_by_model() -> None:
    assert suno_relay.parse_action("music") == ("MUSIC", "suno_music")
    assert suno_relay.parse_action("MuSiC") == ("MUSIC", "suno_music")
    assert suno_relay.parse_action("LYRICS") == ("LYRICS", "suno_lyrics")
    for bad in ("", "video", "music2", "lyric"):
        with pytest.raises(BadInput, match="invalid_action"):
            suno_relay.parse_action(bad)


def test_body_validation_keeps_known_fields_of_the_right_type() -> None:
    payload = suno_relay.validate_body("MUSIC", {"prompt": "p", "continue_at": 12.5, "make_instrumental": True,
                                                 "junk": {"x": 1}})
    assert payload == {"prompt": "p", "continue_at": 12.5, "make_instrumental": True, "mv": "chirp-v3-0"}
    assert suno_relay.validate_body("MUSIC", {"mv": "chirp-v4"})["mv"] == "chirp-v4"
    assert suno_relay.validate_body("LYRICS", {"prompt": "sea"}) == {"prompt": "sea"}
    for action, body in (("LYRICS", {}), ("LYRICS", {"prompt": ""}), ("MUSIC", {"prompt": 1}),
                         ("MUSIC", {"continue_at": True}), ("MUSIC", {"make_instrumental": 1}),
                         ("MUSIC", {"tags": ["a"]})):
        with pytest.raises(BadInput):
            suno_relay.validate_body(action, body)
    spec = suno_relay.task_spec("MUSIC", "suno_music", {"prompt": "p", "mv": "m"})
    assert spec.platform == "suno" and spec.kind == "task" and spec.channel_model == "suno_music"
    assert spec.properties == {"input": "p", "model": "suno_music", "mv": "m"}


def test_upstream_statuses_map_to_ours() -> None:
    assert map_status("SUCCESS") == states.SUCCESS and map_status("in_progress") == states.IN_PROGRESS
    assert map_status("complete") == states.SUCCESS and map_status("streaming") == states.IN_PROGRESS
    assert map_status("") == states.UNKNOWN and map_status("weird") == states.UNKNOWN
    assert map_status("IN_PROGRESS", fail_reason="boom") == states.FAILURE  # a reason means failure (new-api)
    state = item_to_state({"task_id": "u1", "status": "SUCCESS", "start_time": 1_700_000_000,
                           "finish_time": 1_700_000_100, "data": [{"id": "c"}]})
    assert state is not None and state.progress == "100%" and state.start_ms == 1_700_000_000_000
    assert state.finish_ms == 1_700_000_100_000 and state.data == [{"id": "c"}]
    assert item_to_state({"status": "SUCCESS"}) is None
    failed = item_to_state({"task_id": "u2", "status": "FAILURE", "fail_reason": "nope", "start_time": "x"})
    assert failed is not None and failed.fail_reason == "nope" and failed.start_ms == 0


def test_paging_parameters_clamp_like_new_api_and_refuse_nonsense() -> None:
    assert listings.parse_paging({}) == (1, 20)
    assert listings.parse_paging({"p": "0", "page_size": "0"}) == (1, 20)
    assert listings.parse_paging({"p": "-2", "page_size": "1000"}) == (1, 100)
    assert listings.parse_paging({"p": "3", "ps": "7"}) == (3, 7)
    assert listings.parse_paging({"size": "9"}) == (1, 9)
    for params in ({"page_size": "-1"}, {"p": "x"}, {"page_size": "2.5"}, {"p": "1e3"}):
        with pytest.raises(BadInput):
            listings.parse_paging(params)


def test_time_range_is_seconds_inclusive_and_checked() -> None:
    assert listings.parse_time_range({}) == (None, None)
    assert listings.parse_time_range({"start_timestamp": "0", "end_timestamp": ""}) == (None, None)
    assert listings.parse_time_range({"start_timestamp": "1640908800", "end_timestamp": "1640995200"}) == (
        1_640_908_800_000, 1_640_995_200_999)
    assert listings.parse_time_range({"start_timestamp": "5"}, unit_ms=1) == (5, None)
    for params in ({"start_timestamp": "abc"}, {"end_timestamp": "-1"}, {"start_timestamp": "1640908800000"},
                   {"start_timestamp": "20", "end_timestamp": "10"}):
        with pytest.raises(BadInput):
            listings.parse_time_range(params)


def test_simulator_config_from_environment_and_a_reproducible_run() -> None:
    config = SunoSimConfig.from_env({"SUNO_SIM_LATENCY": "0.2", "SUNO_SIM_STEP_SECONDS": "3",
                                     "SUNO_SIM_TASK_FAILURE_RATE": "0.5", "SUNO_SIM_SEED": "3",
                                     "SUNO_SIM_API_KEY": ""})
    assert config.latency_s == 0.2 and config.step_seconds == (3.0, 3.0, 3.0) and config.seed == 3
    assert config.task_failure_rate == 0.5 and config.api_key == ""

    def run() -> list[tuple[int | str, bool]]:
        sim = SunoSimulator(config=SunoSimConfig(task_failure_rate=0.5, submit_failure_rate=0.3, seed=9))
        try:
            out = []
            for _ in range(12):
                status, reply = sim.submit("music", {"prompt": "x"}, "")
                task = sim._state.tasks.get(reply.get("data") or "")
                out.append((status, bool(task and task.fail)))
            return out
        finally:
            sim.stop()

    first = run()
    assert first == run()  # same seed, same answers
    assert {s for s, _ in first} >= {200} and any(s in (429, 500) for s, _ in first)
    assert any(fail for _, fail in first) and not all(fail for s, fail in first if s == 200)
