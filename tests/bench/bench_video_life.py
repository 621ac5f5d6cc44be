"""DynamoDB write units and cost per video task life (docs/video.md, "Cost"): counts, one in-process moto run.

A Sora video is created through the OpenAI Videos API's service (services/video/openai_videos.create) against
the Sora simulator over HTTP (in-process), and followed to the end by the real poll worker; every DynamoDB
request is priced by bench_cost_model's CapacityRecorder (DynamoDB's own rules: 1 KB write units, twice in a
transaction, every GSI entry it touches). Three lives: completed as requested (no settlement), completed with
a different length than requested (the settlement's second ledger entry), failed and refunded.

Run: `.venv/bin/python -m tests.bench video_life`.
"""

from __future__ import annotations

import os
from typing import Any

from tests.bench.bench_cost_model import PRICES, CapacityRecorder


def rows() -> list[dict[str, Any]]:
    from tests.bench.bench_task_life import in_moto_world

    return in_moto_world(_measure)


def _measure(world: Any, monkeypatch: Any) -> list[dict[str, Any]]:
    from taskcenter import clock
    from taskcenter.domain import states
    from taskcenter.services.admin import operations as admin
    from taskcenter.services.core import channels
    from taskcenter.services.core.auth import authenticate_relay
    from taskcenter.services.video import openai_videos, requests
    from taskcenter.store import tasks as task_store

    from functions import jobs
    from infra.simulators.sora import SoraSimConfig, SoraSimulator
    from tests.engine_support import run_queue, sqs_event

    out: list[dict[str, Any]] = []
    with SoraSimulator(config=SoraSimConfig(step_seconds=(5.0, 10.0), result_bytes=1024)) as sim:
        os.environ["PRIVATE_HOST_ALLOWLIST"] = f"{sim.host}:{sim.port}"
        channels.clear_cache()
        admin.create_channel("sora", sim.url, name="sora-sim", secret="sim-secret")
        principal = authenticate_relay(f"Bearer {world.user.api_key}")
        clock.set_now(1_760_000_000_000)
        polls = 0

        def life(prompt: str) -> tuple[CapacityRecorder, Any]:
            nonlocal polls
            polls = 0
            with CapacityRecorder() as rec:
                video = openai_videos.create(principal, requests.parse_json({"prompt": prompt})).value
                task = task_store.get(video["id"])
                for _ in range(6):  # queued -> in_progress (unchanged in between) -> completed | failed
                    clock.advance(4)
                    sim.advance(4)
                    polls += 1
                    jobs.poll_worker(sqs_event([{"channel_id": int(task.channel_id), "task_ids": [task.task_id]}]),
                                     None)
                    if task_store.get(task.task_id).status in states.TERMINAL:
                        break
                run_queue("refund", jobs.refund_worker)
            return rec, task_store.get(video["id"])

        openai_videos.create(principal, requests.parse_json({"prompt": "warm-up"}))  # the numeric-id block
        for label, prompt, expect in (("completed as requested", "a paper boat", states.SUCCESS),
                                      ("completed longer than requested (settled)", "sim:seconds=8 a boat",
                                       states.SUCCESS),
                                      ("failed and refunded", "sim:fail a storm", states.FAILURE)):
            rec, final = life(prompt)
            assert final.status == expect, (label, final.status, final.fail_reason)
            usd = (rec.wru + rec.gsi_wru) * PRICES["dynamodb_wru"] + rec.rru * PRICES["dynamodb_rru"]
            out.append({"metric": f"video life, {label}: write units (table / GSIs)",
                        "value": f"{rec.wru} / {rec.gsi_wru}", "unit": "WRU",
                        "note": f"{rec.write_requests} write requests, {rec.rru} RRU, {polls} polls; DynamoDB "
                                f"{usd * 1e6:,.2f} USD per 1M videos; task item {len(str(final.serialize()))} "
                                "chars serialized"})
        channels.clear_cache()
    return out
