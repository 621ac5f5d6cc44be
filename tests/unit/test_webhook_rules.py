"""Webhook rules (domain/webhook_rules.py) and the signature the worker sends (the Standard Webhooks test
vector, recomputed by the `standardwebhooks` library)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from taskcenter import settings
from taskcenter.domain import webhook_rules as rules
from taskcenter.domain.errors import BadInput
from taskcenter.services.webhooks.delivery import signature

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_spec_test_vector() -> None:
    at = datetime.fromtimestamp(1614265330, tz=UTC)
    assert signature([VECTOR_SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", at, '{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_the_default_schedule_spans_more_than_a_day_and_jitters() -> None:
    schedule = rules.parse_schedule(settings.Settings().webhook_retry_schedule)
    assert sum(schedule) >= 24 * 3600
    rng = random.Random(7)
    delays = [rules.retry_delay(n, schedule, rng=rng) for n in range(1, len(schedule) + 1)]
    assert all(base <= d <= base * 1.2 + 1 for base, d in zip(schedule, delays, strict=True))
    assert delays == sorted(delays)  # exponential-ish: never shorter than the one before
    assert rules.retry_delay(len(schedule) + 1, schedule) is None
    assert rules.retry_delay(1, (5,), retry_after=120) == 120  # Retry-After, when longer, wins


@pytest.mark.parametrize(("status", "verdict"), [(200, rules.DELIVERED), (204, rules.DELIVERED), (299, rules.DELIVERED),
                                                 (301, rules.RETRY), (410, rules.DISABLE), (429, rules.RETRY),
                                                 (500, rules.RETRY), (None, rules.RETRY)])
def test_what_a_response_means(status: int | None, verdict: str) -> None:
    assert rules.classify(status).verdict == verdict


def test_webhook_ids_are_stable_and_have_no_full_stop() -> None:
    a = rules.message_id("evt_task.x_4", "ep_1")
    assert a == rules.message_id("evt_task.x_4", "ep_1") != rules.message_id("evt_task.x_4", "ep_2")
    assert "." not in a and a.startswith("msg_")


def test_secrets_are_whsec_with_at_least_24_bytes() -> None:
    secret = rules.new_secret()
    assert secret.startswith("whsec_")
    Webhook(secret)  # the library reads it
    import base64

    assert len(base64.b64decode(secret[6:])) >= 24


@pytest.mark.parametrize("value", [None, "", "ftp://x/", "http://", "http://u:p@h/", "x" * 3000, "http://h:99999/", 5,
                                   # no delivery could use these (found by hostile testing, 4 Dec 2026)
                                   "https://exa mple.com/hook", "https://example.com/\r\nX-Injected: 1",
                                   "https://example.com/\x00x", "https://xn--/hook", "https://a..b/", "https://-a.com/",
                                   "https://example.com/a\tb", f"https://{'a' * 64}.com/"])
def test_bad_urls(value: object) -> None:
    with pytest.raises(BadInput):
        rules.check_url(value)


@pytest.mark.parametrize("value", ["https://example.com/hook?x=1%20y", "http://10.0.0.1:8080/h", "https://[::1]/h",
                                   "https://bücher.de/h", "https://xn--bcher-kva.de/h", "https://my_host.example.com/",
                                   "  https://example.com/padded  "])
def test_good_urls_keep_their_form(value: str) -> None:
    assert rules.check_url(value) == value.strip()  # private addresses are refused at delivery (docs/webhooks.md)


def test_event_filters() -> None:
    assert rules.parse_events(None) == [] and rules.wants([], rules.PROGRESS)
    assert rules.parse_events(["task.failed", "task.failed"]) == ["task.failed"]
    assert not rules.wants(["task.failed"], rules.SUCCEEDED)
    with pytest.raises(BadInput):
        rules.parse_events(["task.nope"])
