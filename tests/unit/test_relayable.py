"""The secrets guard on relayed upstream error bodies (providers/relayable.py; docs/compatibility.md)."""

from __future__ import annotations

import pytest
from taskcenter.providers import relayable
from taskcenter.providers.base import ChannelInfo

CHANNEL = ChannelInfo(id=7, type="midjourney", base_url="https://mj-proxy.example.net:8443/base", secret="s3cr3t-key")


@pytest.mark.parametrize("text", ['{"code":4,"description":"参数错误"}', "prompt is required", '{"error":"overload"}',
                                  "code 23 at 12:30:45"])
def test_plain_error_bodies_are_relayed(text: str) -> None:
    assert relayable.relayable_text(text.encode(), CHANNEL) == text


@pytest.mark.parametrize("text", ["bad key s3cr3t-key", "see https://status.example.com", "at mj-proxy.example.net",
                                  "MJ-PROXY.EXAMPLE.NET refused", "from 172.16.0.4", "at [fe80::1]", "2001:db8:0:0:1::",
                                  "worker.internal down", "redis.svc timeout", "localhost:6379 refused",
                                  "x" * (relayable.RELAY_MAX_BYTES + 1)])
def test_bodies_that_could_name_the_key_or_an_address_are_not(text: str) -> None:
    assert relayable.relayable_text(text.encode(), CHANNEL) is None


def test_invalid_utf8_is_not_relayed_and_json_objects_only_are_parsed() -> None:
    assert relayable.relayable_text(b"\xff\xfe", CHANNEL) is None
    assert relayable.json_object(b'{"code": 4}') == {"code": 4}
    assert relayable.json_object(b"[1]") is None and relayable.json_object(b"<html>") is None
    assert relayable.json_object(b'{"n": NaN}') is None
