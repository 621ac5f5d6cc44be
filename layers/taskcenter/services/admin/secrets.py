"""What the channel admin operations do with a channel's secret (docs/admin.md "Channel secrets").

create_channel writes the secret to Secrets Manager (store/channel_secrets.py) and the row keeps its name;
update_channel puts a new version (or, with `"secret": ""`, schedules the secret's deletion); deleting a
channel schedules its deletion and un-deleting restores it; `migrate_channel_secrets` moves the plaintext
of rows written before this into Secrets Manager. Replies and logs never carry a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcenter.domain.channel_status import DELETED
from taskcenter.domain.errors import BadInput, Conflict
from taskcenter.observability import logger
from taskcenter.store import channel_secrets
from taskcenter.store.repositories import REMOVE
from taskcenter.store.repositories import current as repositories

if TYPE_CHECKING:
    from taskcenter.store.models import Channel


def check_secret(value: Any) -> str:
    """A secret value as given by an operator ("" = none). The message never repeats the value."""
    if not isinstance(value, str):
        raise BadInput("secret must be a string", field="secret")
    if value != value.strip():
        raise BadInput("secret must not start or end with whitespace", field="secret")
    if value.startswith("ssm:"):
        raise BadInput("secret is the value itself (it is kept in Secrets Manager); 'ssm:' references are "
                       "not read", field="secret")
    if len(value.encode("utf-8")) > channel_secrets.MAX_SECRET_BYTES:
        raise BadInput(f"secret must be at most {channel_secrets.MAX_SECRET_BYTES} bytes", field="secret")
    return value


def store_new(channel_id: int, value: str) -> str:
    """The secret of a channel being created: its ref ("" when it has none)."""
    if not value:
        return ""
    return channel_secrets.create_or_update(channel_secrets.name_for(channel_id), value, channel_id=channel_id,
                                            exists=False)


def forget_new(ref: str) -> None:
    """The channel row could not be written after its secret was: do not leave the secret behind."""
    if ref:
        try:
            channel_secrets.schedule_deletion(ref)
        except Exception:  # an orphan named after an unused id is harmless; the operator retries the create
            logger.warning("orphan channel secret left", extra={"secret_ref": ref})


def secret_changes(ch: Channel, value: str) -> dict[str, Any]:
    """Write `value` as the channel's secret now; the row changes that go with it."""
    if not value:
        if ch.secret_ref:
            channel_secrets.schedule_deletion(ch.secret_ref)
        return {"secret_ref": "", "legacy_secret": REMOVE}
    ref = channel_secrets.create_or_update(ch.secret_ref or channel_secrets.name_for(int(ch.id)), value,
                                           channel_id=int(ch.id), exists=bool(ch.secret_ref))
    return {"secret_ref": ref, "legacy_secret": REMOVE}


def before_status_change(ch: Channel, status: int) -> None:
    """Un-deleting a channel restores its secret before the row says it is usable again."""
    if int(ch.status) == DELETED and status != DELETED and ch.secret_ref:
        channel_secrets.restore(ch.secret_ref)


def after_status_change(ch: Channel, previous: int) -> None:
    """A deleted channel's secret is scheduled for deletion (restorable for RECOVERY_WINDOW_DAYS)."""
    if int(ch.status) == DELETED and previous != DELETED and ch.secret_ref:
        channel_secrets.schedule_deletion(ch.secret_ref)


def view(ch: Channel) -> dict[str, Any]:
    """What a reply shows about the secret: whether there is one and where it lives, never the value."""
    return {"has_secret": bool(ch.secret_ref), "secret_ref": ch.secret_ref or "",
            "plaintext_secret": bool(ch.legacy_secret)}


def migrate(types: list[str]) -> dict[str, Any]:
    """Move every plaintext `secret` of the channels table into Secrets Manager (one Query per type, no scan).

    Each row is updated on condition that its plaintext is still the value read, so a concurrent
    update_channel is never overwritten; running it again is a no-op. An old `ssm:` reference (a path,
    which was never resolved) is dropped from the row and reported: set the value with update_channel.
    """
    migrated: list[int] = []
    dropped: list[int] = []
    checked = 0
    for channel_type in types:
        for ch in repositories().channels.of_type(channel_type):
            checked += 1
            plaintext = ch.legacy_secret
            if not plaintext:
                continue
            if plaintext.startswith("ssm:"):
                _drop_plaintext(ch, plaintext, {})
                dropped.append(int(ch.id))
                continue
            ref = channel_secrets.create_or_update(ch.secret_ref or channel_secrets.name_for(int(ch.id)), plaintext,
                                                   channel_id=int(ch.id), exists=bool(ch.secret_ref))
            _drop_plaintext(ch, plaintext, {"secret_ref": ref})
            migrated.append(int(ch.id))
    logger.info("channel secrets migrated", extra={"migrated": migrated, "dropped_references": dropped})
    return {"checked": checked, "migrated": sorted(migrated), "dropped_references": sorted(dropped)}


def _drop_plaintext(ch: Channel, plaintext: str, changes: dict[str, Any]) -> None:
    """The row loses its plaintext only if it still holds the value read (a concurrent update wins)."""
    if not repositories().channels.drop_plaintext_secret(ch, plaintext, changes):
        raise Conflict(f"channel {int(ch.id)} changed during the migration; run migrate_channel_secrets again")
