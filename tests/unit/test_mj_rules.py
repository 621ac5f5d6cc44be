"""Midjourney rules without AWS: customId parsing, submit validation, prices per action, the adapter's
status mapping and its handling of midjourney-proxy reply codes (against the simulator)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from taskcenter.domain import pricing, states
from taskcenter.domain.errors import BadInput
from taskcenter.providers import http
from taskcenter.providers.base import (
    ChannelInfo,
    PermanentUpstreamError,
    SubmitRequest,
    TransientUpstreamError,
)
from taskcenter.providers.midjourney import MidjourneyProvider, state_of
from taskcenter.services.midjourney import relay as mj_relay
from taskcenter.services.midjourney.relay import MjRefused, action_of_custom_id, parse_submission

from infra.simulators.midjourney import MidjourneySimulator, SimConfig

IMG = "data:image/png;base64,iVBORw0KGgo="


def test_custom_ids_map_to_actions_as_new_api_does() -> None:
    table = {
        "MJ::JOB::upsample::2::3dbbd469-36af-4a0f-8f02-df6c579e7011": ("UPSCALE", 2),
        "MJ::JOB::upsample_v6_2x_subtle::1::abc::SOLO": ("UPSCALE", 1),
        "MJ::JOB::variation::4::abc": ("VARIATION", 4),
        "MJ::JOB::low_variation::1::abc::SOLO": ("LOW_VARIATION", 1),
        "MJ::JOB::high_variation::1::abc::SOLO": ("HIGH_VARIATION", 1),
        "MJ::JOB::reroll::0::abc::SOLO": ("REROLL", 1),
        "MJ::JOB::pan_left::1::abc::SOLO": ("PAN", 1),
        "MJ::Outpaint::50::1::abc::SOLO": ("ZOOM", 1),
        "MJ::CustomZoom::abc": ("CUSTOM_ZOOM", 1),
        "MJ::Inpaint::1::abc::SOLO": ("INPAINT", 1),
    }
    for custom_id, expected in table.items():
        assert action_of_custom_id(custom_id) == expected, custom_id
    for bad in ("", "hello", "MJ::", "MJ::JOB::upsample::9::abc", "MJ::JOB::upsample::x::abc", "MJ::BOOKMARK::abc",
                "XX::JOB::upsample::1::abc"):
        with pytest.raises(MjRefused) as caught:
            action_of_custom_id(bad)
        assert caught.value.mj_code == 4 and "unknown_action" in caught.value.message


def test_each_action_has_a_price_and_modal_openers_are_free() -> None:
    for action in ("IMAGINE", "UPSCALE", "VARIATION", "REROLL", "DESCRIBE", "BLEND", "ZOOM", "PAN", "SHORTEN",
                   "MODAL", "HIGH_VARIATION", "LOW_VARIATION"):
        assert pricing.quota_for(f"mj_{action.lower()}", "default") > 0, action
    # INPAINT and CUSTOM_ZOOM only open a window; the /modal submission that completes it is what costs.
    assert pricing.quota_for("mj_inpaint", "default") == 0 and pricing.quota_for("mj_custom_zoom", "default") == 0
    assert pricing.quota_for("mj_imagine", "default") == 50_000 and pricing.quota_for("mj_upscale", "default") == 25_000


def test_submissions_are_validated_and_shaped_for_the_upstream() -> None:
    imagine = parse_submission("imagine", {"prompt": " a cat ", "base64Array": [IMG], "notifyHook": "https://x.y/h",
                                           "state": "s1"})
    assert imagine.action == "IMAGINE" and imagine.model_name == "mj_imagine" and not imagine.parent_id
    assert imagine.body == {"botType": "MID_JOURNEY", "prompt": "a cat", "base64Array": [IMG]}  # no notifyHook
    assert imagine.properties["state"] == "s1" and imagine.properties["images"] == 1

    blend = parse_submission("blend", {"base64Array": [IMG, IMG], "dimensions": "portrait"})
    assert blend.body["dimensions"] == "PORTRAIT" and blend.model_name == "mj_blend"
    assert parse_submission("describe", {"base64": IMG}).model_name == "mj_describe"
    assert parse_submission("shorten", {"prompt": "long words"}).model_name == "mj_shorten"

    action = parse_submission("action", {"taskId": "17", "customId": "MJ::JOB::upsample::3::h"})
    assert (action.action, action.parent_id, action.parent_status) == ("UPSCALE", "17", states.SUCCESS)
    assert action.body["customId"] == "MJ::JOB::upsample::3::h" and action.properties["index"] == 3
    change = parse_submission("change", {"taskId": "17", "action": "variation", "index": 2})
    assert change.action == "VARIATION" and change.body["action"] == "VARIATION" and change.body["index"] == 2
    assert parse_submission("change", {"taskId": "17", "action": "REROLL"}).body["index"] == 0
    modal = parse_submission("modal", {"taskId": "17", "prompt": "a hat", "maskBase64": IMG})
    assert (modal.action, modal.parent_status, modal.model_name) == ("MODAL", states.MODAL, "mj_modal")

    for kind, body in [("imagine", {"prompt": "x" * 9000}), ("imagine", {"prompt": "x", "base64Array": [IMG] * 6}),
                       ("imagine", {"prompt": "x", "state": 3}), ("blend", {"base64Array": [IMG] * 6}),
                       ("change", {"taskId": "1", "action": "UPSCALE", "index": True}),
                       ("change", {"taskId": "1", "action": "UPSCALE", "index": "2"}),
                       ("describe", {"base64": "http://example.com/a.png"})]:
        with pytest.raises(BadInput):
            parse_submission(kind, body)


def test_upstream_states_map_to_ours() -> None:
    item = {"id": "99", "status": "IN_PROGRESS", "progress": "45", "startTime": 1000, "imageUrl": "",
            "buttons": [{"customId": "MJ::JOB::upsample::1::h", "label": "U1", "type": 2, "style": 2, "junk": 1}]}
    state = state_of(item)
    assert (state.upstream_id, state.status, state.progress, state.start_ms) == ("99", states.IN_PROGRESS, "45%", 1000)
    assert state.extra["buttons"] == [{"customId": "MJ::JOB::upsample::1::h", "emoji": "", "label": "U1",
                                       "type": 2, "style": 2}]
    assert state.data == item
    done = state_of({"id": "1", "status": "SUCCESS", "progress": "99%", "imageUrl": "https://cdn/x.png"})
    assert done.progress == "100%" and done.extra["image_url"] == "https://cdn/x.png"
    assert state_of({"id": "1", "status": "NOT_START"}).status == states.SUBMITTED
    assert state_of({"id": "1", "status": ""}).status == states.SUBMITTED
    assert state_of({"id": "1", "status": "MODAL"}).status == states.MODAL
    assert state_of({"id": "1", "status": "WEIRD"}).status == states.UNKNOWN
    failed = state_of({"id": "1", "status": "FAILURE"})
    assert failed.status == states.FAILURE and failed.fail_reason
    assert state_of({"id": "1", "status": "CANCEL"}).status == states.FAILURE
    assert mj_relay.mj_status(states.QUEUED) == "SUBMITTED" and mj_relay.mj_status(states.UNKNOWN) == "IN_PROGRESS"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[MidjourneySimulator]:
    with MidjourneySimulator(config=SimConfig(step_seconds=0.05)) as simulator:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{simulator.host}:{simulator.port}")
        yield simulator


def _provider(sim: MidjourneySimulator, secret: str = "sim-secret") -> MidjourneyProvider:
    return MidjourneyProvider(ChannelInfo(id=1, type="midjourney", base_url=sim.url or "", secret=secret))


def _request(prompt: str, kind: str = "imagine", parent: str = "") -> SubmitRequest:
    return SubmitRequest(task_id="t", action="IMAGINE", payload={"kind": kind, "body": {"prompt": prompt}},
                         upstream_parent_id=parent)


def test_adapter_reply_codes_and_batch_fetch(sim: MidjourneySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = _provider(sim)
    accepted = provider.submit(_request("a cat"))
    assert accepted.status == states.SUBMITTED and accepted.extra["mj_submit"]["code"] == 1
    queued = provider.submit(_request("sim:queued cat"))
    assert queued.extra["mj_submit"]["code"] == 22 and queued.upstream_id
    with pytest.raises(PermanentUpstreamError, match=r"\[24\]"):
        provider.submit(_request("sim:banned"))
    with pytest.raises(TransientUpstreamError):
        provider.submit(_request("sim:busy"))
    sim.config.queue_full_rate = 1.0
    with pytest.raises(TransientUpstreamError, match=r"\[23\] queue full"):
        provider.submit(_request("a cat"))
    sim.config.queue_full_rate = 0.0
    with pytest.raises(http.ChannelAuthFailed, match="401"):  # the channel's key: transient, fail over (issue 12.5)
        _provider(sim, secret="wrong").submit(_request("a cat"))
    with pytest.raises(PermanentUpstreamError, match="no upstream id"):
        provider.submit(_request("", kind="change"))

    monkeypatch.setenv("MJ_LIST_BATCH_SIZE", "1")
    sim.finish_all()
    sim.requests.clear()
    states_by_id = provider.fetch([accepted.upstream_id, queued.upstream_id, "nope"])
    assert set(states_by_id) == {accepted.upstream_id, queued.upstream_id}
    assert states_by_id[accepted.upstream_id].status == states.SUCCESS
    assert states_by_id[accepted.upstream_id].extra["image_url"].endswith(f"/images/{accepted.upstream_id}.png")
    assert sim.requests.count(("POST", "/mj/task/list-by-condition")) == 3  # batches of MJ_LIST_BATCH_SIZE
    assert provider.cancel(accepted.upstream_id) is False


def test_upstream_times_and_button_codes_past_any_real_value_are_zero() -> None:
    """`1e200` is a finite float: as an int, a 201-digit number every DynamoDB write of the task refused, so
    the poll message failed on every delivery (found by hostile testing, 4 Dec 2026)."""
    state = state_of({"id": "1", "status": "IN_PROGRESS", "startTime": 1e200, "finishTime": -5,
                      "buttons": [{"customId": "MJ::JOB::upsample::1", "type": 1e200, "style": 2}]})
    assert (state.start_ms, state.finish_ms) == (0, 0)
    assert state.extra["buttons"][0]["type"] == 0 and state.extra["buttons"][0]["style"] == 2
    assert state_of({"id": "1", "status": "SUCCESS", "startTime": 1_764_000_000_000}).start_ms == 1_764_000_000_000
