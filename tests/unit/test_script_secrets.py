"""script_secrets without AWS (issue 12 item 9): which fields are secret, the mask every view uses, and the
per-request dedupe of KMS Encrypt (a stand-in KMS client counts the calls)."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter import script_secrets
from taskcenter.domain import v1_scripts as rules


class FakeKms:
    def __init__(self) -> None:
        self.encrypts: list[dict[str, Any]] = []

    def encrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.encrypts.append(kwargs)
        return {"CiphertextBlob": b"ct-%d" % len(self.encrypts)}


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> FakeKms:
    fake = FakeKms()
    monkeypatch.setattr(script_secrets, "_kms", lambda: fake)
    monkeypatch.setenv(script_secrets.KEY_ENV, "arn:aws:kms:us-east-1:123456789012:key/k")
    return fake


def test_mask_hides_every_secret_field_at_any_depth_and_every_marker():
    config = {"username": "u", "password": {"$enc": "Y3Q="}, "email": "e@x",
              "chatgpt_settings": {"api_key": "sk-plain", "model": "gpt-4", "url": ""},
              "nested": [{"Api-Key": "k"}, {"token": ""}], "other": {"$enc": "eA=="}}
    assert script_secrets.mask(config) == {
        "username": "u", "password": "******", "email": "e@x",
        "chatgpt_settings": {"api_key": "******", "model": "gpt-4", "url": ""},
        "nested": [{"Api-Key": "******"}, {"token": ""}], "other": "******"}
    assert script_secrets.mask({"target_username": "a", "captions": "hi"}) == {"target_username": "a",
                                                                                "captions": "hi"}


def test_the_login_script_config_is_seen_as_secret_and_others_are_not():
    login = rules.plan_create({"serials": ["d1"], "script_name": "login",
                               "script_config": {"username": "u", "password": "p"}})
    post = rules.plan_create({"serials": ["d1"], "script_name": "post",
                              "script_config": {"material_list": ["a.mp4"], "captions": "c"}})
    assert script_secrets.has_secrets(login.script_config)
    assert not script_secrets.has_secrets(post.script_config)


def test_seal_plan_encrypts_each_distinct_value_once_with_the_owner_context(kms: FakeKms):
    plan = rules.plan_create({"serials": [f"d{i}" for i in range(200)], "script_name": "login",
                              "script_config": {"username": "u", "password": "p:TOTP"}})
    sealed = script_secrets.seal_plan(plan, 42)
    assert len(sealed.tasks) == 200 and len(kms.encrypts) == 1
    assert kms.encrypts[0]["EncryptionContext"] == {"user_id": "42", "purpose": "v1-script-secret"}
    assert kms.encrypts[0]["Plaintext"] == b'"p:TOTP"'
    assert all(t.script_config["password"] == {"$enc": "Y3QtMQ=="} for t in sealed.tasks)
    assert sealed.script_config["password"] == {"$enc": "Y3QtMQ=="}
    assert "p:TOTP" not in repr(sealed)
    assert plan.tasks[0].script_config["password"] == "p:TOTP"  # the caller's plan is not changed in place


def test_a_plan_without_secrets_needs_no_kms(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(script_secrets, "_kms", lambda: pytest.fail("KMS called for a plan without secrets"))
    plan = rules.plan_create({"serials": ["d1"], "script_name": "match_accounts", "script_config": {}})
    assert script_secrets.seal_plan(plan, 1) is plan


def test_no_key_configured_refuses_instead_of_storing_plain_text(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(script_secrets.KEY_ENV, raising=False)
    with pytest.raises(script_secrets.SecretsUnavailable) as refused:
        script_secrets.Sealer(1).seal({"password": "hunter2"})
    assert refused.value.http_status == 503 and "hunter2" not in refused.value.message


def test_a_secret_too_long_for_kms_is_a_clean_400(kms: FakeKms):
    with pytest.raises(script_secrets.BadInput):
        script_secrets.Sealer(1).seal({"api_key": "x" * 5000})
    assert kms.encrypts == []
