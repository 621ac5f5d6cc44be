"""taskcenter.settings: one typed object, read once from the environment, with the old getters' clamps.

BOUNDARIES is the behaviour of the getters it replaced (checked against main's getters when it was written):
an out-of-range value is clamped, an empty variable is the default.
"""

from __future__ import annotations

import pytest
from taskcenter import settings

BOUNDARIES = [  # (variable, raw value, field value)
    ("POLL_BATCH_SIZE", "0", 1), ("POLL_FAST_WINDOW_SECONDS", "-5", 0), ("POLL_CHAIN_DELAY_SECONDS", "5000", 900),
    ("POLL_CHAIN_DELAY_SECONDS", "-1", 0), ("POLL_CHAIN_MAX_LINKS", "-1", 0),
    ("POLL_PROGRESS_MIN_INTERVAL_SECONDS", "-1", 0), ("POLL_MAX_MISSES", "0", 1), ("POLL_DISPATCH_LIMIT", "0", 1),
    ("SWEEP_LIMIT", "0", 1), ("SUBMIT_CHANNEL_ATTEMPTS", "0", 1), ("SUBMIT_MAX_RETRIES", "-3", 0),
    ("RETRY_CLAIM_SECONDS", "5", 30), ("REFUND_GRACE_SECONDS", "-1", 0), ("AUDIT_DAYS", "0", 1),
    ("RECONCILE_LIMIT", "0", 1), ("ID_BLOCK_SIZE", "0", 1), ("CHANNEL_SECRET_MAX_AGE_SECONDS", "-1", 0),
    ("MJ_IMAGE_MAX_BYTES", "10", 1024), ("MJ_IMAGE_TIMEOUT_SECONDS", "0.1", 0.5), ("MJ_LIST_BATCH_SIZE", "0", 1),
    ("V1_ADMISSION_RECHECK_SECONDS", "0", 1), ("V1_CREATE_HOLD_SECONDS", "10", 60), ("V1_MAX_RETRIES", "-1", 0),
    ("V1_RETRY_ALL_PAGE_SIZE", "0", 1), ("V1_RETRY_ALL_PAGE_SIZE", "9999", 500),
    ("POLL_SHARDS", "7", 7), ("TASK_TIMEOUT_SECONDS", "60", 60), ("FIRST_POLL_SECONDS", "0", 0),
    ("UPSTREAM_READ_TIMEOUT", "2.5", 2.5), ("UPSTREAM_CONNECT_RETRIES", "0", 0),
    ("MJ_FORWARD_IMAGES", "false", False), ("MJ_FORWARD_IMAGES", "ON", True), ("ALLOW_PRIVATE_UPSTREAMS", "1", True),
    ("PUBLIC_BASE_URL", "https://example.com/", "https://example.com"),
    ("PRIVATE_HOST_ALLOWLIST", "Sim.Local:80, ,127.0.0.1:9", frozenset({"sim.local:80", "127.0.0.1:9"})),
    ("MODEL_PRICES", '{"suno_music": 0.5}', {"suno_music": 0.5}),
    ("CHANNEL_SECRET_PREFIX", "taskcenter/prod/channel/", "taskcenter/prod/channel/"),
]


def field_of(variable: str) -> str:
    return next(spec.name for spec in settings.SETTINGS if spec.metadata["env"] == variable)


@pytest.mark.parametrize(("variable", "raw", "expected"), BOUNDARIES)
def test_a_value_is_parsed_and_clamped_like_the_getter_it_replaced(variable, raw, expected):
    assert getattr(settings.load({variable: raw}), field_of(variable)) == expected


def test_unset_and_empty_variables_give_the_defaults():
    defaults = settings.Settings()
    assert settings.load({}) == defaults == settings.load({name: "" for name in settings.ENV_NAMES})
    assert (defaults.task_timeout_seconds, defaults.poll_batch_size, defaults.mj_forward_images,
            defaults.channel_secret_prefix) == (86400, 50, True, "taskcenter/local/channel/")


def test_a_malformed_value_names_its_variable_or_fails_loudly():
    with pytest.raises(ValueError):
        settings.load({"POLL_BATCH_SIZE": "many"})
    with pytest.raises(ValueError, match="GROUP_RATIOS"):
        settings.load({"GROUP_RATIOS": "[1, 2]"})


def test_the_object_is_frozen():
    with pytest.raises(AttributeError):
        settings.get().poll_batch_size = 1  # type: ignore[misc]


def test_read_once_per_process_unless_reloaded_or_following(monkeypatch):
    monkeypatch.setenv("POLL_SHARDS", "4")
    settings.follow_environment(False)
    try:
        first = settings.reload()
        monkeypatch.setenv("POLL_SHARDS", "9")
        assert settings.get() is first and settings.get().poll_shards == 4  # as on Lambda: read once
        assert settings.reload().poll_shards == 9
        settings.follow_environment(True)
        monkeypatch.setenv("POLL_SHARDS", "5")
        assert settings.get().poll_shards == 5
        assert settings.get() is settings.get()  # unchanged environment: the same object, not re-parsed
    finally:
        settings.follow_environment(True)
