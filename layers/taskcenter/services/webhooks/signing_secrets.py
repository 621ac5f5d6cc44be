"""Webhook signing secrets at rest (docs/webhooks.md "Signing secrets at rest"): sealed with KMS exactly as v1
script-config secrets are (taskcenter/sealing.py; the choice: docs/decisions.md), opened only by the delivery
worker to sign, with sealing's short cache.

Stored form: `kms1:<fingerprint>:<base64 KMS ciphertext>`, the encryption context binding the owner, the
endpoint and the purpose, so a ciphertext copied to another user's or endpoint's row does not decrypt. The
fingerprint (8 hex digits of the secret's SHA-256) is the listing's `secret_preview`: it tells which secret
is current without revealing any of it. The plaintext `whsec_...` is shown once, in the reply to create or
rotate, and never stored, logged or listed.

Rows written before encryption hold the plaintext: they still sign, and are migrated on read (the
delivery worker and rotate seal them; a conditional write, so a concurrent rotation wins).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from taskcenter import clock, sealing
from taskcenter.observability import logger
from taskcenter.sealing import SecretNotReadable, SecretsUnavailable
from taskcenter.store.webhook_repository import SEALED_PREFIX, Endpoint, WebhookRepository

PURPOSE = "webhook-signing-secret"  # infra/template_kms.py grants and requires it
WHAT = "a webhook signing secret"


def context_for(user_id: int, endpoint_id: str) -> dict[str, str]:
    return {"user_id": str(int(user_id)), "purpose": PURPOSE, "endpoint_id": endpoint_id}


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def is_sealed(stored: str | None) -> bool:
    return isinstance(stored, str) and stored.startswith(SEALED_PREFIX)


def seal(user_id: int, endpoint_id: str, secret: str) -> str:
    """The stored form of a new secret (one KMS Encrypt). Raises SecretsUnavailable (503, nothing written)."""
    ciphertext = sealing.encrypt(secret.encode("utf-8"), context_for(user_id, endpoint_id), WHAT)
    return f"{SEALED_PREFIX}{fingerprint(secret)}:{ciphertext}"


def open_secret(user_id: int, endpoint_id: str, stored: str) -> str:
    """The plaintext of a stored secret (a legacy plaintext row is its own plaintext). Raises SecretNotReadable."""
    if not is_sealed(stored):
        return stored
    ciphertext = stored[len(SEALED_PREFIX):].partition(":")[2]
    return sealing.decrypt(ciphertext, context_for(user_id, endpoint_id), WHAT).decode("utf-8")


def preview(stored: str) -> str:
    """`whsec_...` and the fingerprint: the same before and after a legacy row is migrated."""
    fp = stored[len(SEALED_PREFIX):].partition(":")[0] if is_sealed(stored) else fingerprint(stored)
    return f"whsec_...{fp}"


def signing_keys(endpoint: Endpoint) -> list[str]:
    """The current secret, and the previous one during a rotation's overlap (spec A.3: one `v1` each).
    Raises SecretNotReadable for the current one; an unreadable previous one is left out (logged)."""
    keys = [open_secret(endpoint.user_id, endpoint.endpoint_id, endpoint.secret)]
    if endpoint.old_secret and int(endpoint.old_secret_until_ms or 0) > clock.now_ms():
        try:
            keys.append(open_secret(endpoint.user_id, endpoint.endpoint_id, endpoint.old_secret))
        except SecretNotReadable as error:
            logger.warning("previous webhook secret not readable; signing with the current one only",
                           extra={"endpoint_id": endpoint.endpoint_id, "reason": error.message})
    return keys


def migrate(repo: WebhookRepository, endpoint: Endpoint) -> Endpoint:
    """Seal the plaintext secrets of a row written before encryption (best effort: a KMS failure leaves the
    row as it was, to be sealed on a later read). Returns the endpoint as stored after."""
    before = {"secret": endpoint.secret, "old_secret": endpoint.old_secret}
    after = dict(before)
    try:
        for name, value in before.items():
            if value and not is_sealed(value):
                after[name] = seal(endpoint.user_id, endpoint.endpoint_id, value)
    except SecretsUnavailable as error:
        logger.warning("webhook secret not migrated yet", extra={"endpoint_id": endpoint.endpoint_id,
                                                                 "reason": error.message})
        return endpoint
    if after == before or not repo.swap_secrets(endpoint.user_id, endpoint.endpoint_id, before, after):
        return endpoint  # nothing to do, or a rotation came first (it sealed what it wrote)
    logger.info("webhook secret sealed at rest", extra={"endpoint_id": endpoint.endpoint_id})
    return replace(endpoint, secret=after["secret"] or "", old_secret=after["old_secret"])
