"""A polled failure's text is kept and shown to the task's owner: cleaned of the channel's key and the upstream's
addresses before it is stored (providers/relayable.py `public_state`; docs/compatibility.md, "Upstream error
replies"). Found by hostile testing (4 Dec 2026): the text was stored verbatim, key included."""
from __future__ import annotations

import json

from taskcenter.domain import states
from taskcenter.store import tasks as task_store

from tests.integration import suno_support

suno_sim = suno_support.suno_sim  # fixtures
suno_world = suno_support.suno_world

CHANNEL_SECRET = "sim-secret"  # tests/support.seed_world's channel secret (the simulator's api_key)


def test_polled_fail_reason_never_shows_the_channel_secret(suno_world, suno_sim, client, frozen_clock,
                                                           monkeypatch) -> None:
    for name, value in {"POLL_CHAIN_DELAY_SECONDS": "0", "FIRST_POLL_SECONDS": "0",
                        "POLL_FAST_WINDOW_SECONDS": "10", "REFUND_GRACE_SECONDS": "30"}.items():
        monkeypatch.setenv(name, value)
    original_view = suno_sim.view

    def leaky_view(task):  # an upstream (a Suno API proxy) whose failure text quotes the key it was called with
        item = original_view(task)
        if item and item.get("status") == "FAILURE":
            item["fail_reason"] = (f"generation failed: upstream http://10.0.4.17:3000/api/generate refused "
                                   f"Authorization: Bearer {CHANNEL_SECRET}")
        return item

    monkeypatch.setattr(suno_sim, "view", leaky_view)
    reply = client.http.post("/suno/submit/music", headers=suno_world.user.relay_headers(),
                             body=json.dumps({"prompt": "sim:fail please"}))
    assert reply.status_code == 200, reply.body
    task_id = json.loads(reply.body)["data"]
    suno_support.run_engine(suno_sim, [task_id], rounds=40)
    assert task_store.get(task_id).status == states.FAILURE

    listing = client.http.get("/api/task/self", headers=suno_world.user.dashboard_headers())
    fetch = client.http.get(f"/suno/fetch/{task_id}", headers=suno_world.user.relay_headers())
    for body in (listing.body, fetch.body):
        text = body.decode() if isinstance(body, bytes) else body
        assert CHANNEL_SECRET not in text, text
    stored = task_store.get(task_id)
    assert CHANNEL_SECRET not in (stored.fail_reason or "") and "10.0.4.17" not in stored.fail_reason  # nor the table
    assert stored.fail_reason == "generation failed: upstream [url] refused Authorization: Bearer [secret]"
