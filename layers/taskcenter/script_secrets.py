"""Secrets a user puts in a v1 script_config (a login password, an API key): encrypted at rest with KMS,
masked in every reply, decrypted only to be sent to the TikMatrix host (docs/task-api-v1.md, "Secrets in
script_config"; the choice of KMS Encrypt over a data key: docs/decisions.md).

- `seal_plan` (the create path): every secret value becomes `{"$enc": "<base64 KMS ciphertext>"}` before a
  task is built, so neither `properties.script_config` nor the submit payload ever holds the plaintext.
  One KMS Encrypt per distinct value per request (a 1,000-task create with one password: one call),
  bound to the owner by the encryption context {"user_id": ..., "purpose": "v1-script-secret"}.
- `open_config` (the host adapter's submit): markers back to their values, cached per ciphertext for a
  few minutes in the process (a retry-all batch of one user's tasks decrypts once, not once per task).
- `mask` (every view): a secret field shows "******" (set) or stays empty (not set); never the
  plaintext, never the ciphertext.

KMS itself is called through taskcenter/sealing.py (shared with webhook signing secrets). A field is secret
by its name, at any depth (SECRET_FIELDS), so a script config that gains a field such as
`chatgpt_settings.api_key` is covered without another change.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, TypeVar

from taskcenter import sealing
from taskcenter.domain.errors import BadInput
from taskcenter.sealing import KEY_ENV, KMS_PLAINTEXT_LIMIT, SecretNotReadable, SecretsUnavailable

__all__ = ["KEY_ENV", "KMS_PLAINTEXT_LIMIT", "SecretNotReadable", "SecretsUnavailable"]  # their old home

MARKER = "$enc"
MASK = "******"
PURPOSE = "v1-script-secret"
# Names (compared case-insensitively, "-" as "_") of script_config fields whose values are secrets, from
# tikmatrix-scripts.md: login's password (which also carries an Instagram TOTP secret as
# "password:SECRET"), chatgpt_settings.api_key, and the usual names of credentials a script may take.
SECRET_FIELDS = frozenset({
    "password", "passwd", "email_password", "mail_password", "account_password",
    "api_key", "apikey", "openai_api_key", "access_key", "secret_key", "client_secret",
    "token", "access_token", "refresh_token", "auth_token", "session_token", "bearer_token", "cookie", "cookies",
    "secret", "totp", "totp_secret", "otp", "otp_secret", "mfa_secret", "two_fa", "2fa", "2fa_secret",
    "two_fa_secret", "twofa_secret", "verification_code", "backup_codes",
})

T = TypeVar("T")


def is_secret_field(name: Any) -> bool:
    return isinstance(name, str) and name.strip().lower().replace("-", "_") in SECRET_FIELDS


def is_marker(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {MARKER} and isinstance(value[MARKER], str)


def has_secrets(value: Any) -> bool:
    """True if any secret field holds a value (cheap: tells the create path whether KMS is needed at all)."""
    if isinstance(value, dict):
        return any((is_secret_field(k) and v not in (None, "")) or has_secrets(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_secrets(v) for v in value)
    return False


# ---------------------------------------------------------------- masking (every reply)
def mask(value: Any) -> Any:
    """A copy with every secret field (and any marker) replaced by MASK; an empty secret stays empty."""
    if is_marker(value):
        return MASK
    if isinstance(value, dict):
        return {k: (MASK if is_secret_field(k) and v not in (None, "") else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


# ---------------------------------------------------------------- KMS
def _kms() -> Any:
    return sealing.kms_client()


def context_for(user_id: int) -> dict[str, str]:
    """The encryption context: a ciphertext decrypts only for the user it was made for."""
    return {"user_id": str(int(user_id)), "purpose": PURPOSE}


class Sealer:
    """Encrypts the secret fields of one request's configs; each distinct value costs one KMS call."""

    def __init__(self, user_id: int) -> None:
        self.user_id = int(user_id)
        self.kms_calls = 0
        self._sealed: dict[str, dict[str, str]] = {}

    def seal(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (self._encrypt(v) if is_secret_field(k) and v not in (None, "") and not is_marker(v)
                        else self.seal(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.seal(v) for v in value]
        return value

    def _encrypt(self, value: Any) -> dict[str, str]:
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        sealed = self._sealed.get(plain)
        if sealed is not None:
            return dict(sealed)
        data = plain.encode("utf-8")
        if len(data) > KMS_PLAINTEXT_LIMIT:
            raise BadInput(f"a secret field of script_config is longer than {KMS_PLAINTEXT_LIMIT} bytes",
                           field="script_config")
        self.kms_calls += 1
        ciphertext = sealing.encrypt(data, context_for(self.user_id), "secrets in script_config", kms=_kms)
        sealed = {MARKER: ciphertext}
        self._sealed[plain] = sealed
        return dict(sealed)


def seal_plan(plan: T, user_id: int) -> T:
    """A v1 CreatePlan with the secret fields of its config and of every planned task's config sealed.
    A plan without secrets comes back unchanged (no KMS client, no call)."""
    if not has_secrets(getattr(plan, "script_config", None)) and not any(
            has_secrets(t.script_config) for t in getattr(plan, "tasks", [])):
        return plan
    sealer = Sealer(user_id)
    tasks = [replace(t, script_config=sealer.seal(t.script_config)) for t in plan.tasks]  # type: ignore[attr-defined]
    return replace(plan, script_config=sealer.seal(plan.script_config), tasks=tasks)  # type: ignore[type-var]


# ---------------------------------------------------------------- decrypting (the host adapter only)
def clear_cache() -> None:
    sealing.clear_cache()


def open_config(value: Any, user_id: int) -> Any:
    """A copy with every marker decrypted (values that are not markers pass through unchanged).
    Raises SecretNotReadable."""
    if is_marker(value):
        return _decrypt(value[MARKER], int(user_id))
    if isinstance(value, dict):
        return {k: open_config(v, user_id) for k, v in value.items()}
    if isinstance(value, list):
        return [open_config(v, user_id) for v in value]
    return value


def _decrypt(ciphertext: str, user_id: int) -> Any:
    return json.loads(sealing.decrypt(ciphertext, context_for(user_id), "a script_config secret", kms=_kms)
                      .decode("utf-8"))
