"""The Suno adapter against the simulator over HTTP: submit, batch fetch mapped to UpstreamState as the
simulated task moves, ids the upstream forgets or never knew, and error classification."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.providers import http
from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError, SubmitRequest, TransientUpstreamError
from taskcenter.providers.suno import SunoProvider

from infra.simulators.suno import SunoSimConfig, SunoSimulator


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Any:
    with SunoSimulator(config=SunoSimConfig(step_seconds=(1.0, 1.0, 2.0), seed=11)) as simulator:
        monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", simulator.host_port)
        monkeypatch.setenv("UPSTREAM_CONNECT_RETRIES", "0")
        yield simulator


def _provider(sim: SunoSimulator, secret: str = "sim-secret") -> SunoProvider:
    return SunoProvider(ChannelInfo(id=1, type="suno", base_url=sim.url + "/", secret=secret))


def test_fetch_follows_the_upstream_task_to_the_end(sim: SunoSimulator) -> None:
    provider = _provider(sim)
    music = provider.submit(SubmitRequest("task_a", "MUSIC", {"prompt": "waves", "title": "Sea"})).upstream_id
    failing = provider.submit(SubmitRequest("task_b", "MUSIC", {"prompt": "sim:fail"})).upstream_id
    vanishing = provider.submit(SubmitRequest("task_c", "music", {"prompt": "sim:vanish"})).upstream_id
    lyrics = provider.submit(SubmitRequest("task_d", "LYRICS", {"prompt": "the tide"})).upstream_id
    ids = [music, failing, vanishing, lyrics, "never-submitted"]

    seen = provider.fetch(ids)
    assert set(seen) == {music, failing, vanishing, lyrics}  # unknown ids are absent
    assert {s.status for s in seen.values()} == {states.SUBMITTED}
    sim.advance(1.0)
    assert provider.fetch(ids)[music].status == states.QUEUED
    sim.advance(1.5)
    seen = provider.fetch(ids)
    assert seen[music].status == states.IN_PROGRESS and seen[music].start_ms > 0
    assert seen[music].progress.endswith("%") and seen[music].finish_ms == 0
    assert vanishing not in seen  # the upstream forgot it
    sim.advance(2.0)
    seen = provider.fetch(ids)
    done = seen[music]
    assert done.status == states.SUCCESS and done.progress == "100%" and done.finish_ms >= done.start_ms > 0
    assert isinstance(done.data, list) and len(done.data) == 2 and done.data[0]["audio_url"].startswith(sim.url)
    assert done.data[0]["title"] == "Sea" and done.fail_reason == ""
    assert seen[failing].status == states.FAILURE and seen[failing].fail_reason
    assert seen[lyrics].status == states.SUCCESS and "the tide" in seen[lyrics].data["text"]
    assert provider.fetch([]) == {}
    assert provider.cancel(music) is False


def test_errors_are_classified_for_failover(sim: SunoSimulator) -> None:
    provider = _provider(sim)
    for status in (429, 500, 503):
        sim.script_submits(status)
        with pytest.raises(TransientUpstreamError):
            provider.submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))
    sim.script_submits(400)
    with pytest.raises(PermanentUpstreamError):
        provider.submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))
    with pytest.raises(PermanentUpstreamError):  # the upstream refuses the prompt itself
        provider.submit(SubmitRequest("t", "MUSIC", {"prompt": "sim:reject"}))
    with pytest.raises(http.ChannelAuthFailed):  # a wrong channel key: 401, the channel's fault: fail over
        _provider(sim, secret="wrong").submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))
    sim.script_submits("drop")
    with pytest.raises(TransientUpstreamError):
        provider.submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))
    with pytest.raises(TransientUpstreamError):  # a fetch that fails is transient (the poller retries)
        _provider(sim, secret="wrong").fetch(["x"])


def test_a_closed_port_is_a_connection_error(sim: SunoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.local.context import free_port

    port = free_port()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"127.0.0.1:{port}")
    closed = SunoProvider(ChannelInfo(id=2, type="suno", base_url=f"http://127.0.0.1:{port}", secret="k"))
    with pytest.raises(TransientUpstreamError, match="unreachable"):
        closed.submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))


def test_a_private_address_not_allow_listed_is_refused_as_a_channel_failure(
        sim: SunoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", "")
    with pytest.raises(TransientUpstreamError, match="refusing"):
        _provider(sim).submit(SubmitRequest("t", "MUSIC", {"prompt": "x"}))
    assert sim.submits == []
