"""Webhook signing secrets at rest without AWS (services/webhooks/signing_secrets.py): a stand-in KMS that,
like KMS, opens a ciphertext only under the context it was made with, and the in-memory repository.
Sealing and opening, migration of a plaintext row (and losing to a concurrent rotation), a KMS outage during
migration, and an unreadable previous secret."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from taskcenter import clock, sealing
from taskcenter.services.webhooks import signing_secrets
from taskcenter.store.webhook_memory import MemoryWebhooks
from taskcenter.store.webhook_repository import Endpoint

LEGACY = "whsec_" + base64.b64encode(b"a" * 24).decode()


class FakeKms:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    def encrypt(self, *, KeyId: str, Plaintext: bytes, EncryptionContext: dict[str, str]) -> dict[str, Any]:  # noqa: N803
        self.calls.append("encrypt")
        if self.down:
            raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "Encrypt")
        blob = json.dumps({"p": Plaintext.decode(), "c": EncryptionContext}).encode()
        return {"CiphertextBlob": blob[::-1]}  # not the plaintext as it stands

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.calls.append("decrypt")
        sealed = json.loads(CiphertextBlob[::-1])
        if sealed["c"] != EncryptionContext:
            raise ClientError({"Error": {"Code": "InvalidCiphertextException", "Message": "context"}}, "Decrypt")
        return {"Plaintext": sealed["p"].encode()}


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> FakeKms:
    fake = FakeKms()
    monkeypatch.setattr(sealing, "kms_client", lambda: fake)
    monkeypatch.setenv(sealing.KEY_ENV, "arn:aws:kms:us-east-1:123456789012:key/k")
    sealing.clear_cache()
    yield fake
    sealing.clear_cache()


def legacy_endpoint(repo: MemoryWebhooks) -> Endpoint:
    """A row as it was written before encryption (the repositories no longer accept one: put it in directly)."""
    endpoint = Endpoint("ep_1", 7, "https://x.y/h", LEGACY)
    repo.endpoints[(7, "ep_1")] = endpoint
    return endpoint


def test_seal_opens_only_for_its_endpoint_and_owner_and_decrypts_once(kms: FakeKms) -> None:
    stored = signing_secrets.seal(7, "ep_1", LEGACY)
    assert stored.startswith("kms1:") and LEGACY not in stored and LEGACY[6:] not in stored
    assert signing_secrets.preview(stored) == signing_secrets.preview(LEGACY)
    assert signing_secrets.open_secret(7, "ep_1", stored) == LEGACY
    assert signing_secrets.open_secret(7, "ep_1", stored) == LEGACY
    assert kms.calls == ["encrypt", "decrypt"]  # the second open is the cache's
    for user_id, endpoint_id in ((7, "ep_2"), (8, "ep_1")):
        with pytest.raises(sealing.SecretNotReadable) as error:
            signing_secrets.open_secret(user_id, endpoint_id, stored)
        assert error.value.permanent and LEGACY not in error.value.message


def test_a_plaintext_row_is_sealed_on_read(kms: FakeKms) -> None:
    repo = MemoryWebhooks()
    migrated = signing_secrets.migrate(repo, legacy_endpoint(repo))
    stored = repo.endpoint(7, "ep_1")
    assert signing_secrets.is_sealed(stored.secret) and migrated.secret == stored.secret
    assert signing_secrets.signing_keys(stored) == [LEGACY]
    assert signing_secrets.migrate(repo, stored) == stored and kms.calls.count("encrypt") == 1  # sealed: no call


def test_migration_loses_to_a_concurrent_rotation(kms: FakeKms) -> None:
    repo = MemoryWebhooks()
    read = legacy_endpoint(repo)
    rotated = signing_secrets.seal(7, "ep_1", "whsec_" + base64.b64encode(b"b" * 24).decode())
    repo.endpoints[(7, "ep_1")] = Endpoint("ep_1", 7, "https://x.y/h", rotated,
                                           old_secret=signing_secrets.seal(7, "ep_1", LEGACY))
    assert signing_secrets.migrate(repo, read) == read  # what it read is no longer there: nothing written
    assert repo.endpoint(7, "ep_1").secret == rotated


def test_kms_down_leaves_the_row_and_still_signs(kms: FakeKms) -> None:
    repo = MemoryWebhooks()
    kms.down = True
    endpoint = signing_secrets.migrate(repo, legacy_endpoint(repo))
    assert endpoint.secret == LEGACY == repo.endpoint(7, "ep_1").secret
    assert signing_secrets.signing_keys(endpoint) == [LEGACY]
    with pytest.raises(sealing.SecretsUnavailable):
        signing_secrets.seal(7, "ep_1", LEGACY)


def test_an_unreadable_previous_secret_is_left_out(kms: FakeKms) -> None:
    current = "whsec_" + base64.b64encode(b"c" * 24).decode()
    endpoint = Endpoint("ep_1", 7, "https://x.y/h", signing_secrets.seal(7, "ep_1", current),
                        old_secret=signing_secrets.seal(7, "ep_other", LEGACY),
                        old_secret_until_ms=clock.now_ms() + 60_000)
    assert signing_secrets.signing_keys(endpoint) == [current]
    endpoint.old_secret = signing_secrets.seal(7, "ep_1", LEGACY)
    assert signing_secrets.signing_keys(endpoint) == [current, LEGACY]
    endpoint.old_secret_until_ms = clock.now_ms() - 1  # the overlap is over
    assert signing_secrets.signing_keys(endpoint) == [current]
