"""Channel secrets in AWS Secrets Manager (docs/admin.md "Channel secrets", docs/decisions.md "Channels").

The channels table holds only `secret_ref`, the name of the channel's secret
(`taskcenter/<stack>/channel/<id>`, prefix CHANNEL_SECRET_PREFIX, set by template.yaml); the value lives
in Secrets Manager and never in a table, a reply or a log line.

- Reads go through the Powertools parameters utility (a `SecretsProvider` on the shared botocore session)
  with its in-memory cache: a warm function asks Secrets Manager once per channel per
  CHANNEL_SECRET_MAX_AGE_SECONDS (default 300), so a rotated secret is in force everywhere within that time.
- Powertools and the client are imported on first use (not at cold start: most functions never read one).
- Writes (create, new version, scheduled deletion, restore) are the admin function's alone: template.yaml
  grants GetSecretValue on the prefix to the functions that call upstreams, and nothing else writes.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from taskcenter import settings
from taskcenter.store.db import aws_client

LOCAL_PREFIX = settings.LOCAL_CHANNEL_SECRET_PREFIX  # the local stack and tests (template.yaml sets the stack's)
MAX_SECRET_BYTES = 65_536  # Secrets Manager's limit for SecretString
RECOVERY_WINDOW_DAYS = 30  # a deleted channel's secret can be restored (undelete) for this long

_provider: Any = None
_provider_client: Any = None  # the client _provider was built on (a new endpoint or region: a new provider)


class SecretUnavailable(Exception):
    """The secret could not be read (missing, scheduled for deletion, no permission, Secrets Manager down)."""


def stack_prefix(stack: str) -> str:
    return f"taskcenter/{stack}/channel/"


def name_for(channel_id: int) -> str:
    return f"{settings.get().channel_secret_prefix}{int(channel_id)}"


def client() -> Any:
    # botocore's DEBUG lines carry request and response bodies (a SecretString among them): whatever
    # level the function's logging is set to, botocore's own loggers stop at INFO.
    botocore_logger = logging.getLogger("botocore")
    if botocore_logger.level < logging.INFO:  # NOTSET (follow the root) included
        botocore_logger.setLevel(logging.INFO)
    return aws_client("secretsmanager")


def _secrets_provider() -> Any:
    global _provider, _provider_client
    current = client()
    if _provider is None or _provider_client is not current:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _provider, _provider_client = SecretsProvider(boto3_client=current), current
    return _provider


def read(ref: str, *, force_fetch: bool = False) -> str:
    """The secret's current value (cached up to max_age_seconds). Raises SecretUnavailable."""
    from aws_lambda_powertools.utilities.parameters import GetParameterError

    try:
        value = _secrets_provider().get(ref, max_age=settings.get().channel_secret_max_age_seconds,
                                        force_fetch=force_fetch)
    except GetParameterError as error:
        # The SDK's message names the secret and the reason (never the value).
        raise SecretUnavailable(str(error)[:300]) from error
    if not isinstance(value, str):
        raise SecretUnavailable(f"{ref} holds no SecretString")
    return value


def clear_cache() -> None:
    if _provider is not None:
        _provider.clear_cache()


# ---------------------------------------------------------------- writes (the admin function only)
def create_or_update(ref: str, value: str, *, channel_id: int, exists: bool) -> str:
    """Write `value` as the current version of `ref` (created, tagged with the channel, when it does not
    exist yet). `exists` says which to try first (one request in the usual case). Returns the ref."""
    sm = client()

    def create() -> None:
        sm.create_secret(Name=ref, SecretString=value, Description=f"Task Center channel {int(channel_id)}",
                         Tags=[{"Key": "taskcenter:channel", "Value": str(int(channel_id))}])

    if not exists:
        # the row names no secret: its name may still be scheduled for deletion (a secret removed with
        # `"secret": ""`), where AWS refuses every write until it is restored
        restore(ref)
    if exists:
        try:
            sm.put_secret_value(SecretId=ref, SecretString=value)
        except sm.exceptions.ResourceNotFoundException:
            create()
    else:
        try:
            create()
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=ref, SecretString=value)
    # No cache to clear: the admin function never reads secrets; every reader's cached copy ages out
    # within max_age_seconds (the rotation delay docs/admin.md states).
    return ref


def schedule_deletion(ref: str) -> None:
    """Deleting a channel schedules its secret's deletion (restorable for RECOVERY_WINDOW_DAYS)."""
    sm = client()
    # gone already, or already scheduled
    with contextlib.suppress(sm.exceptions.ResourceNotFoundException, sm.exceptions.InvalidRequestException):
        sm.delete_secret(SecretId=ref, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)


def restore(ref: str) -> None:
    """Un-deleting a channel restores its secret (a no-op when it is not scheduled for deletion)."""
    sm = client()
    with contextlib.suppress(sm.exceptions.ResourceNotFoundException, sm.exceptions.InvalidRequestException):
        sm.restore_secret(SecretId=ref)
