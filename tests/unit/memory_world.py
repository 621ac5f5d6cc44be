"""A world for unit tests of services on the in-memory repositories (store/memory.py): a funded user with a
key, suno channels, a scripted upstream registered as the "suno" provider, and queues that record what is
sent. No moto, no network: `no_network` makes any socket connection fail the test.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from taskcenter import clock, queues
from taskcenter.domain import states
from taskcenter.providers.base import ChannelInfo, SubmitRequest, SubmitResult, UpstreamState
from taskcenter.services.core import channels as channel_service
from taskcenter.services.core.auth import Principal
from taskcenter.services.core.submission import TaskSpec
from taskcenter.store.memory import MemoryStore
from taskcenter.store.models import Channel, Credential, User
from taskcenter.store.repositories import Repositories, use

NOW = 1_760_000_000_000
USER, KEY, FUNDS = 7, "unit-key-hash", 100_000


class NetworkUsed(AssertionError):
    pass


def refuse_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection (urllib3, botocore, http.client all end here) fails loudly."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"a unit test tried to use the network: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@dataclass
class Upstream:
    """The scripted upstream: errors to raise on the next submits (in order), and who was called."""

    errors: list[Exception] = field(default_factory=list)
    submits: list[tuple[int, str]] = field(default_factory=list)  # (channel id, task id)


@dataclass
class World:
    store: MemoryStore
    repos: Repositories
    upstream: Upstream
    sent: list[tuple[str, dict[str, Any], int]]  # (queue, body, delay seconds)
    principal: Principal

    def add_channel(self, channel_id: int, *, priority: int = 0, status: int = 1) -> None:
        self.store.put_channel(Channel(id=channel_id, type="suno", base_url="https://suno.example",
                                       status=status, priority=priority, name=f"ch{channel_id}"))
        channel_service.clear_cache()

    def messages(self, queue: str) -> list[dict[str, Any]]:
        return [body for q, body, _ in self.sent if q == queue]

    def balance(self) -> tuple[int, int]:
        audit = self.repos.ledger.audit(USER)
        assert audit.ok, audit
        return audit.quota, audit.used_quota


def spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {"platform": "suno", "kind": "task", "action": "MUSIC", "model_name": "suno_music",
                              "payload": {"prompt": "a song"}, "properties": {"input": "a song"}}
    fields.update(overrides)
    return TaskSpec(**fields)


def install_upstream(monkeypatch: pytest.MonkeyPatch, upstream: Upstream) -> None:
    class ScriptedProvider:
        def __init__(self, channel: ChannelInfo) -> None:
            self.channel = channel

        def submit(self, request: SubmitRequest) -> SubmitResult:
            if upstream.errors:
                raise upstream.errors.pop(0)
            upstream.submits.append((self.channel.id, request.task_id))
            return SubmitResult(upstream_id=f"up-{request.task_id}")

        def fetch(self, upstream_ids: list[str]) -> dict[str, UpstreamState]:
            return {u: UpstreamState(upstream_id=u, status=states.SUBMITTED) for u in upstream_ids}

        def cancel(self, upstream_id: str) -> bool:
            return False

    from taskcenter.services import platforms  # the platform table (tests/support.use_provider, without moto)

    row = dataclasses.replace(platforms.TABLE["suno"], provider=ScriptedProvider)
    monkeypatch.setitem(platforms.TABLE, "suno", row)


def record_queues(monkeypatch: pytest.MonkeyPatch, sent: list[tuple[str, dict[str, Any], int]]) -> None:
    def send(queue: str, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        sent.append((queue, dict(body), delay_seconds))
        return f"m{len(sent)}"

    def send_many(queue: str, bodies: list[dict[str, Any]], *, delay_seconds: int = 0) -> int:
        for body in bodies:
            send(queue, body, delay_seconds=delay_seconds)
        return len(bodies)

    monkeypatch.setattr(queues, "send", send)
    monkeypatch.setattr(queues, "send_many", send_many)


@pytest.fixture
def mem(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    refuse_connections(monkeypatch)
    store = MemoryStore()
    store.put_user(User(id=USER, username="dana"))
    store.put_credential(Credential(token_hash=KEY, kind="key", user_id=USER, unlimited=False,
                                    remaining_quota=FUNDS))
    upstream, sent = Upstream(), []
    install_upstream(monkeypatch, upstream)
    record_queues(monkeypatch, sent)
    principal = Principal(user_id=USER, username="dana", role=1, group="default", plan="Pro", timezone="UTC",
                          token_hash=KEY, kind="key", unlimited=False, remaining_quota=FUNDS)
    clock.set_now(NOW)
    with use(store.repositories()) as repos:
        repos.ledger.credit(USER, FUNDS)
        channel_service.clear_cache()
        yield World(store, repos, upstream, sent, principal)
    channel_service.clear_cache()
    clock.set_now(None)
