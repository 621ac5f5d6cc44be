"""`sk-KEY-<channel id>`: an admin's relay request names the channel it must use (new-api's rule,
newapi-relay-wire.md §1.1; docs/compatibility.md, "Relay authentication").

auth.authenticate_relay lets only admins name one (403 otherwise) and checks it is a number; this puts it on
the task before anything is charged, so channel selection (submission.candidate_channels) uses that channel
only, and never fails over to another. An action on an earlier task keeps the task's own channel (new-api
sends it to the origin's channel too).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, TypeVar

from taskcenter.domain import channel_status
from taskcenter.domain.errors import GatewayRefusal
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core.auth import CHANNEL_DISABLED, INVALID_CHANNEL, Principal


class _Spec(Protocol):  # submission.TaskSpec (not imported: submission imports this module)
    platform: str
    channel_id: int


SpecT = TypeVar("SpecT", bound=_Spec)


def apply(principal: Principal, spec: SpecT) -> SpecT:
    """`spec` pinned to the principal's named channel: 400 when no channel of the spec's platform has that
    id, 403 when it takes no new tasks (disabled or draining); unchanged when none is named."""
    if not principal.pinned_channel or spec.channel_id:
        return spec
    channel = channel_service.get_channel(principal.pinned_channel)
    if channel is None or channel.type != spec.platform:
        raise GatewayRefusal(INVALID_CHANNEL, status=400)
    if not channel_status.takes_new_tasks(channel):
        raise GatewayRefusal(CHANNEL_DISABLED, status=403)
    return dataclasses.replace(spec, channel_id=principal.pinned_channel)  # type: ignore[type-var]
