"""Task API v1 test support: a world with a simulated TikMatrix host and a stand-in for the workers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from taskcenter import config
from taskcenter.domain import states

from infra.simulators.tikmatrix import SimConfig, TikMatrixSimulator
from tests.support import Account, World

DEVICES = ("dev1", "dev2", "dev3", "dev4", "dev5")
ACCOUNTS = ("alice_tt@dev1", "alice_ig@dev2", "floating")


@dataclass
class V1World:
    world: World
    sim: TikMatrixSimulator
    channel_id: int
    client: Any

    @property
    def user(self) -> Account:
        return self.world.user

    @property
    def other(self) -> Account:
        return self.world.other

    def call(self, method: str, path: str, body: Any = None, *, account: Account | None = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        account = account or self.user
        send = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
        send.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        reply = self.client.http.request(method, path, body=data, headers=send)
        return reply.status_code, json.loads(reply.body)

    def create(self, body: dict[str, Any], account: Account | None = None) -> list[int]:
        status, reply = self.call("POST", "/api/v1/task", body, account=account)
        assert (status, reply["code"]) == (200, 0), reply
        return list(reply["data"]["task_ids"])

    def get(self, task_id: int, account: Account | None = None) -> dict[str, Any]:
        status, reply = self.call("GET", f"/api/v1/task/{task_id}", account=account)
        assert (status, reply["code"]) == (200, 0), reply
        return reply["data"]


def make_v1_world(world: World, client: Any, monkeypatch: Any, **sim_config: Any) -> V1World:
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels

    sim = TikMatrixSimulator(config=SimConfig(**{"pending_seconds": 0.0, "run_seconds": 3600.0, **sim_config}))
    sim.start()
    monkeypatch.setenv("PRIVATE_HOST_ALLOWLIST", f"{sim.host}:{sim.port}")
    channel = admin.create_channel("tikmatrix", sim.url, name="tm-sim", secret="", devices=list(DEVICES),
                                   accounts=list(ACCOUNTS))
    channels.clear_cache()
    return V1World(world, sim, int(channel["id"]), client)


def retry_messages(delete: bool = True) -> list[dict[str, Any]]:
    """Everything on the retry queue now (delays ignored: moto delivers delayed messages later)."""
    sqs = boto3.client("sqs")
    url = config.queue_url("retry")
    out: list[dict[str, Any]] = []
    while True:
        reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0)
        messages = reply.get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            if delete:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_retry_worker(rounds: int = 10) -> int:
    """The engine's retry worker over what is on the retry queue now (it forwards retry-all pages to us)."""
    from taskcenter.services.jobs import retry_worker as retries

    handled = 0
    for _ in range(rounds):
        messages = retry_messages()
        if not messages:
            break
        for body in messages:
            handled += 1
            retries.retry_from_message(body)
    return handled


def poll_host(v1: V1World, user_id: int) -> int:
    """What the poll worker does: one batch fetch for the user's running tasks, applied. Returns moves."""
    from taskcenter.services.core import channels
    from taskcenter.services.core.platform_registry import provider_for
    from taskcenter.services.jobs import polling as engine
    from taskcenter.store.models import Task

    index = Task.user_platform_status  # type: ignore[attr-defined]
    running = list(index.query(f"u#{user_id}#task#p#tikmatrix", Task.ls.startswith(f"{states.IN_PROGRESS}#")))
    # the index holds keys and a few attributes (docs/listing.md): the items themselves
    running = list(Task.batch_get([t.task_id for t in running], consistent_read=True)) if running else []
    if not running:
        return 0
    provider = provider_for(channels.info(channels.get_channel(v1.channel_id)))
    reported = provider.fetch([t.upstream_id for t in running])
    moved = 0
    for row in running:
        task = Task.get(row.task_id, consistent_read=True)
        state = reported.get(task.upstream_id)
        if state is not None and engine.apply_upstream_state(task, state) == engine.MOVED:
            moved += 1
    return moved


def quota(account: Any) -> int:
    """The account's current quota (consistent read)."""
    from taskcenter.store.models import User

    return int(User.get(account.user_id, consistent_read=True).quota)
