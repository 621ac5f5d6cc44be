"""KMS sealing of short secrets at rest, shared by v1 script-config secrets (taskcenter/script_secrets.py) and
webhook signing secrets (services/webhooks/signing_secrets.py). KMS Encrypt on the stack's customer managed
key (template.yaml: V1SecretsKey), bound to an encryption context naming the owner and the purpose; Decrypt
with a short per-process cache (docs/decisions.md "Secrets in a v1 script_config are KMS-encrypted").

The only module that calls KMS Encrypt/Decrypt. Error messages name `what` (the kind of secret) and the KMS
error code, never a value.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from taskcenter import settings
from taskcenter.domain.errors import DomainError

KEY_ENV = settings.env_name("v1_secrets_key_arn")  # the customer managed key (template.yaml: V1SecretsKey)
KMS_PLAINTEXT_LIMIT = 4096  # bytes: the most KMS Encrypt takes
CACHE_SECONDS = 300  # how long a decrypted value is kept in the process
CACHE_ENTRIES = 1024


class SecretsUnavailable(DomainError):
    """KMS could not encrypt (or is not configured): nothing is written; the client may try again."""

    http_status = 503
    code = "secrets_unavailable"


class SecretNotReadable(Exception):
    """A ciphertext could not be decrypted. `permanent`: it never will be (not ours, tampered, wrong owner)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def kms_client() -> Any:
    from taskcenter.store.db import aws_client  # late: most functions never seal or open a secret

    return aws_client("kms")


def encrypt(data: bytes, context: Mapping[str, str], what: str, kms: Callable[[], Any] | None = None) -> str:
    """The base64 KMS ciphertext of `data`. Raises SecretsUnavailable (no key configured, KMS refused)."""
    key = settings.get().v1_secrets_key_arn
    if not key:
        raise SecretsUnavailable(f"{what} cannot be stored: {KEY_ENV} is not configured")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = (kms or kms_client)().encrypt(KeyId=key, Plaintext=data, EncryptionContext=dict(context))
    except (BotoCoreError, ClientError) as error:
        # The reason only (never the value): KMS throttled, unreachable or refused.
        raise SecretsUnavailable(f"{what} could not be encrypted; try again") from error
    return base64.b64encode(reply["CiphertextBlob"]).decode("ascii")


_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, bytes]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def decrypt(ciphertext: str, context: Mapping[str, str], what: str, kms: Callable[[], Any] | None = None) -> bytes:
    """The plaintext of a base64 ciphertext made under `context`, cached CACHE_SECONDS per (ciphertext,
    context) so a batch of one owner's work decrypts once. Raises SecretNotReadable."""
    cache_key = (ciphertext, tuple(sorted(context.items())))
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        blob = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SecretNotReadable(f"{what} is not valid ciphertext", permanent=True) from error
    from botocore.exceptions import BotoCoreError, ClientError

    args: dict[str, Any] = {"CiphertextBlob": blob, "EncryptionContext": dict(context)}
    if settings.get().v1_secrets_key_arn:
        args["KeyId"] = settings.get().v1_secrets_key_arn  # only our key may have made it
    try:
        plain: bytes = (kms or kms_client)().decrypt(**args)["Plaintext"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        permanent = code in {"InvalidCiphertextException", "IncorrectKeyException"}
        raise SecretNotReadable(f"{what} could not be decrypted ({code})", permanent=permanent) from error
    except BotoCoreError as error:
        raise SecretNotReadable(f"KMS could not be reached to decrypt {what}", permanent=False) from error
    with _cache_lock:
        if len(_cache) >= CACHE_ENTRIES:
            for stale in [k for k, (until, _) in _cache.items() if until <= now] or list(_cache)[:CACHE_ENTRIES // 4]:
                _cache.pop(stale, None)
        _cache[cache_key] = (now + CACHE_SECONDS, plain)
    return plain
