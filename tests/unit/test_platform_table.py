"""The platform table, the one ownership and channel-status rules (issue 13 items 2 and 5, docs/architecture.md)."""

from __future__ import annotations

import pytest
from taskcenter.domain import channel_status, pricing, video_pricing
from taskcenter.providers.base import ChannelInfo, PermanentUpstreamError
from taskcenter.services import platforms
from taskcenter.services.core import platform_loader, platform_registry
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.task_api_v1 import admission, manual_retry


def test_every_platform_has_one_row_with_its_adapter_and_priced_models() -> None:
    assert set(platforms.TABLE) == {"suno", "midjourney", "tikmatrix", "sora", "kling", "doubao", "gemini"}
    for name, row in platforms.TABLE.items():
        assert row.name == name
        adapter = row.provider(ChannelInfo(id=1, type=name, base_url="https://upstream.example.com", secret="s"))
        assert callable(adapter.submit) and callable(adapter.fetch) and callable(adapter.cancel)
        if name in ("sora", "kling", "doubao", "gemini"):  # priced per second and size (domain/video_pricing.py)
            assert all(video_pricing.usd_per_second(m.removeprefix("video:"), "std") > 0 for m in row.models)
            continue
        assert row.models and all(pricing.price_usd(model) >= 0 for model in row.models)
    v1 = platforms.TABLE["tikmatrix"]
    assert v1.admission is admission.admission_check and v1.on_terminal is admission.on_terminal
    assert v1.message_kinds == {"v1_retry_all_page": manual_retry.handle_retry_message}
    assert platforms.TABLE["suno"].admission is None and platforms.TABLE["midjourney"].on_terminal is None


def test_core_reads_the_installed_table_and_refuses_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert platform_registry.platform("tikmatrix") is platforms.TABLE["tikmatrix"]
    assert platform_registry.message_handler("v1_retry_all_page") is manual_retry.handle_retry_message
    assert platform_registry.message_handler("nobody_knows") is None
    with pytest.raises(PermanentUpstreamError):
        platform_registry.provider_for(ChannelInfo(id=1, type="fax", base_url="", secret=""))
    monkeypatch.setattr(platform_loader, "loader", None)
    with pytest.raises(RuntimeError, match="no platform table installed"):
        platform_registry.platform("suno")


class _Task:
    def __init__(self, user_id: int, platform: str = "suno", kind: str = "task") -> None:
        self.user_id, self.platform, self.kind = user_id, platform, kind


def test_one_ownership_rule() -> None:
    alice = Principal(user_id=7, username="alice", role=1, group="default", plan="", timezone="UTC", token_hash="h",
                      kind="key", unlimited=True, remaining_quota=0)
    assert owns(alice, _Task(7)) and owns(alice, _Task(7), platform="suno")
    assert not owns(alice, None) and not owns(alice, _Task(8))
    assert not owns(alice, _Task(7, platform="midjourney"), platform="suno")
    assert not owns(alice, _Task(7, kind="mj"), kind="task")


class _Channel:
    def __init__(self, status: int) -> None:
        self.status = status


def test_one_channel_status_rule() -> None:
    enabled, disabled, deleted = (_Channel(s) for s in (1, 2, 3))
    assert channel_status.takes_new_tasks(enabled) and not channel_status.takes_new_tasks(disabled)
    assert channel_status.follows_its_tasks(disabled) and not channel_status.follows_its_tasks(deleted)
    assert channel_status.is_draining(disabled) and not channel_status.is_draining(None)
