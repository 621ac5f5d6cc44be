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


@pytest.mark.parametrize(("text", "shown"), [
    ("Banned prompt detected", "Banned prompt detected"),
    ("refused Authorization: Bearer s3cr3t-key", "refused Authorization: Bearer [secret]"),
    ("POST http://10.0.4.17:3000/api/generate failed", "POST [url] failed"),
    ("mj-proxy.example.net said no", "[upstream] said no"),
    ("gpu-7.cluster.local timed out from 172.16.0.4", "[host] timed out from [address]"),
    ("redis at localhost:6379 refused", "redis at [host]:6379 refused"),
])
def test_a_polled_text_keeps_its_words_and_loses_the_key_and_addresses(text: str, shown: str) -> None:
    assert relayable.public_text(text, CHANNEL) == shown


def test_a_polled_state_is_stored_without_the_channel_secret_anywhere() -> None:
    from taskcenter.providers.base import UpstreamState

    state = UpstreamState(upstream_id="u1", status="FAILURE", progress="50% on 10.0.0.9",
                          fail_reason="key s3cr3t-key rejected by https://internal.example/x",
                          data=[{"audio_url": "https://cdn.example.com/a.mp3?k=s3cr3t-key", "n": 3}],
                          extra={"buttons": [{"label": "s3cr3t-key"}]})
    shown = relayable.public_state(state, CHANNEL)
    assert shown.fail_reason == "key [secret] rejected by [url]" and shown.progress == "50% on [address]"
    assert shown.data == [{"audio_url": "https://cdn.example.com/a.mp3?k=[secret]", "n": 3}]  # result URLs kept
    assert shown.extra == {"buttons": [{"label": "[secret]"}]}
    assert (shown.upstream_id, shown.status) == ("u1", "FAILURE")



def test_a_polled_result_keeps_only_numbers_dynamodb_can_store() -> None:
    """A midjourney-proxy item with `1e200` (a finite float the reply's parser lets through) was stored as it
    came and every write of it refused by DynamoDB (found by hostile testing, 4 Dec 2026)."""
    from taskcenter.providers.base import UpstreamState

    state = UpstreamState(upstream_id="u1", status="SUCCESS", data={"startTime": 1e200, "n": [2.5, -1e-200, 7]},
                          extra={"buttons": [{"type": 1e130}]})
    shown = relayable.public_state(state, CHANNEL)
    assert shown.data == {"startTime": None, "n": [2.5, None, 7]} and shown.extra == {"buttons": [{"type": None}]}
