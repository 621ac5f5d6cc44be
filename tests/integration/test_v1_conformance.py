"""Task API v1 as the TikMatrix clients use it, through the Chalice app with the simulated host (moto in-process):
the documented keys and the examples' singular `target_username` reach the host as the documented
`target_users`, `access_method` defaults to direct, a post without material gets the documented defaults,
the top-level intervals reach the host, and task objects carry every field the desktop UI reads
(tikmatrix-scripts.md §3, §6; docs/compatibility.md, "Task API v1")."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.simulators.tikmatrix import undocumented
from tests.integration.v1_support import V1World, poll_host, run_retry_worker

WALL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def sent_configs(v1: V1World) -> list[dict[str, Any]]:
    return [s["script_config"] for s in v1.sim.submissions]


def test_follow_targets_in_every_documented_form_reach_the_host_as_target_users(v1: V1World) -> None:
    examples = [{"target_username": "@tikmatrix"}, {"target_user": "@a,@b"}, {"target_users": ["c"]}]
    for config in examples:
        v1.create({"serials": ["dev1"], "script_name": "follow", "script_config": config})
    for _ in range(4):  # one task per device at a time: finish each, let the next start
        run_retry_worker()
        v1.sim.finish_all()
        poll_host(v1, v1.user.user_id)
    run_retry_worker()
    targets = ("@tikmatrix", "@a", "@b", "c")
    assert sent_configs(v1) == [{"target_users": [t], "access_method": "direct"} for t in targets]
    assert all(undocumented(s) == [] for s in v1.sim.submissions)


def test_post_defaults_intervals_and_the_task_object_the_desktop_reads(v1: V1World) -> None:
    ids = v1.create({"serials": ["dev2"], "script_name": "post", "min_interval": 1, "max_interval": "5",
                     "script_config": {"content_type": 1, "captions": "Check out my new video! #viral"}})
    run_retry_worker()
    (sent,) = v1.sim.submissions
    assert (sent["min_interval"], sent["max_interval"], sent["serials"]) == (1, 5, ["dev2"])
    config = sent["script_config"]
    assert (config["upload_wait_time"], config["add_sound"], config["material_source"], config["post_way"],
            config["sound_wait_time"], config["placement"]) == (30, "-1", "materialLibrary", "share", 10, "reel")
    assert undocumented(sent) == []
    v1.sim.finish_all()
    poll_host(v1, v1.user.user_id)
    view = v1.get(ids[0])
    assert view["status"] == 2 and view["source"] == "api" and view["retry_count"] == 0 and view["remark"] == ""
    assert WALL.match(view["start_time"]) and WALL.match(view["end_time"]) and view["started_at"]
    assert view["finished_at"] and isinstance(view["duration_seconds"], int) and view["duration_seconds"] >= 0
    assert json.loads(view["script_args"])["captions"] == "Check out my new video! #viral"
    assert (view["min_interval"], view["max_interval"]) == (1, 5)


def test_a_failed_task_shows_its_reason_as_remark(v1: V1World) -> None:
    ids = v1.create({"serials": ["dev3"], "script_name": "comment",
                     "script_config": {"target_post_url": "https://www.tiktok.com/@u/video/1",
                                       "comment_content": "sim:fail\nsecond"}})
    run_retry_worker()
    v1.sim.finish_all()
    poll_host(v1, v1.user.user_id)
    view = v1.get(ids[0])
    assert view["status"] == 3 and view["remark"] == "simulated failure" and WALL.match(view["end_time"])
    sent = v1.sim.submissions[0]["script_config"]
    assert sent["comment_content"] == "sim:fail\nsecond" and sent["target_post_urls"] == [
        "https://www.tiktok.com/@u/video/1"]


def test_the_chatgpt_api_key_of_a_warmup_is_sealed_at_rest_masked_and_reaches_the_host(v1: V1World) -> None:
    from tests.support import snapshot_tables

    key = "sk-warmup-" + "7" * 24
    ids = v1.create({"serials": ["dev4"], "script_name": "account_warmup", "script_config": {
        "task_duration": 1800, "topic": "tech reviews\ngadgets", "min_duration": 30, "max_duration": 90,
        "like_probable": 25, "comment_probable": 20, "generate_by_chatgpt": True,
        "chatgpt_settings": {"api_key": key, "model": "gpt-3.5-turbo", "prompt": "Say hi"}}})
    assert key not in json.dumps(snapshot_tables(), default=str)  # encrypted at rest
    view = v1.get(ids[0])
    assert view["script_config"]["chatgpt_settings"] == {"api_key": "******", "model": "gpt-3.5-turbo",
                                                         "prompt": "Say hi"}
    assert key not in json.dumps(view)
    run_retry_worker()
    (sent,) = v1.sim.submissions
    assert sent["script_config"]["chatgpt_settings"]["api_key"] == key  # opened for the host only
    assert sent["script_config"]["floow_probable"] == 0 and undocumented(sent) == []
