"""The TikMatrix host adapter against the simulated host (no AWS): submit, batch status with and without the
host's task_ids filter, stop, and how host answers map to transient / permanent errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from taskcenter.domain import states
from taskcenter.providers import http
from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError, SubmitRequest, TransientUpstreamError
from taskcenter.providers.tikmatrix import TikMatrixProvider

from infra.simulators.tikmatrix import SimConfig, TikMatrixSimulator


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TikMatrixSimulator, TikMatrixProvider]]:
    sim = TikMatrixSimulator(config=SimConfig(pending_seconds=0.0, run_seconds=3600.0, secret="s3cret")).start()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{sim.host}:{sim.port}")
    yield sim, TikMatrixProvider(ChannelInfo(id=1, type="tikmatrix", base_url=sim.url, secret="s3cret"))
    sim.stop()


def submit(provider: TikMatrixProvider, captions: str = "hi", serial: str = "d1") -> str:
    payload = {"serial": serial, "script_name": "post", "enable_multi_account": False,
               "script_config": {"material_list": ["a.mp4"], "captions": captions}}
    result = provider.submit(SubmitRequest(task_id="v1_1", action="post", payload=payload))
    assert result.status == states.IN_PROGRESS
    return result.upstream_id


def test_submit_fetch_stop_and_error_mapping(host: tuple[TikMatrixSimulator, TikMatrixProvider]) -> None:
    sim, provider = host
    ids = [submit(provider, serial=f"d{i}") for i in range(5)]
    assert sim.submissions[0]["serials"] == ["d0"] and sim.submissions[0]["script_name"] == "post"
    oldest = ids[:2]
    got = provider.fetch(oldest)
    assert set(got) == set(oldest) and all(s.status == states.IN_PROGRESS for s in got.values())
    assert sim.fetches == 1  # one batch request

    sim.configure(ignore_task_ids=True)  # a host that ignores the filter returns its newest tasks
    got = provider.fetch(oldest)
    assert set(got) == set(oldest)  # the two it left out were read one by one
    assert provider.fetch(["424242"]) == {}  # unknown to the host: absent (the engine counts a miss)

    assert provider.cancel(ids[0]) is True and sim.stops == [int(ids[0])]
    sim.finish_all()
    assert provider.cancel(ids[1]) is False  # finished: the host cannot stop it
    states_now = provider.fetch(ids)
    assert states_now[ids[0]].status == states.FAILURE and states_now[ids[0]].fail_reason == "stopped"
    assert states_now[ids[1]].status == states.SUCCESS and states_now[ids[1]].data

    with pytest.raises(TransientUpstreamError):
        submit(provider, "sim:busy")
    with pytest.raises(PermanentUpstreamError):
        submit(provider, "sim:refuse")
    wrong = TikMatrixProvider(ChannelInfo(id=1, type="tikmatrix", base_url=sim.url, secret="nope"))
    with pytest.raises(http.ChannelAuthFailed):  # 401: the channel's fault, fail over (issue 12.5)
        submit(wrong)
