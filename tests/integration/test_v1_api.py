"""Task API v1 through the Chalice app: create (fan-out, validation, start_time, charges), list, get, stats,
license, plan gate, owner isolation on every route. Workers are stood in for by tests/integration/v1_support.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import pricing
from taskcenter.services.admin import operations as admin
from taskcenter.store import money

from tests.integration.v1_support import V1World, poll_host, quota, retry_messages, run_retry_worker
from tests.support import make_account, snapshot_tables

REFERENCE = {  # the reference document's example body, unchanged
    "serials": ["device_serial_1"],
    "script_name": "post",
    "script_config": {"content_type": 0, "captions": "Check out my new video! #viral #fyp",
                      "material_list": ["C:/Videos/video1.mp4"], "upload_wait_time": 60},
}
POST = {"serials": ["dev1"], "script_name": "post",
        "script_config": {"content_type": 0, "captions": "hi", "material_list": ["C:/v.mp4"]}}



def test_create_fans_out_charges_lists_gets_and_counts(v1: V1World, frozen_clock: Any) -> None:
    before = quota(v1.user)
    # The reference example (its device served by a host) -> one task.
    admin.update_channel(v1.channel_id, devices=["dev1", "dev2", "dev3", "dev4", "dev5", "device_serial_1"])
    from taskcenter.services.core import channels

    channels.clear_cache()
    status, reply = v1.call("POST", "/api/v1/task", REFERENCE)
    assert status == 200 and reply["code"] == 0 and reply["message"] == "success"
    assert reply["data"]["created_count"] == 1 and len(reply["data"]["task_ids"]) == 1
    first = reply["data"]["task_ids"][0]

    # follow: one task per target per device (3 x 2 = 6); each carries its one target.
    follow = v1.create({"serials": ["dev1", "dev2"], "script_name": "follow",
                        "script_config": {"target_users": ["a", "@b", "c"]}})
    assert len(follow) == 6
    targets = sorted((v1.get(i)["serial"], *v1.get(i)["script_config"]["target_users"]) for i in follow)
    assert targets == [(d, t) for d in ("dev1", "dev2") for t in ("@b", "a", "c")]
    comment = v1.create({"serials": ["dev3"], "script_name": "comment",
                         "script_config": {"target_post_urls": ["https://t/1", "https://t/2"],
                                           "comment_content": "nice"}})
    assert len(comment) == 2

    # login forces multi-account on, match_accounts forces it off; username mode finds the device.
    login = v1.create({"serials": ["dev4"], "script_name": "login", "enable_multi_account": False,
                       "script_config": {"username": "u1", "password": "p"}})
    match = v1.create({"serials": ["dev4"], "script_name": "match_accounts", "enable_multi_account": True,
                       "script_config": {}})
    assert v1.get(login[0])["enable_multi_account"] is True
    assert v1.get(match[0])["enable_multi_account"] is False
    by_name = v1.create({"usernames": ["alice_tt"], "script_name": "account_warmup", "script_config": {}})
    assert (v1.get(by_name[0])["serial"], v1.get(by_name[0])["username"]) == ("dev1", "alice_tt")

    # Charged per task at the per-script price; ids are numeric and GET is by that id.
    prices = (pricing.quota_for("v1_post", "default") + 6 * pricing.quota_for("v1_follow", "default")
              + 2 * pricing.quota_for("v1_comment", "default") + pricing.quota_for("v1_login", "default")
              + pricing.quota_for("v1_match_accounts", "default")
              + pricing.quota_for("v1_account_warmup", "default"))
    assert quota(v1.user) == before - prices
    assert money.audit_user(v1.user.user_id).ok
    task = v1.get(first)
    assert task["id"] == first and task["status"] == 0 and task["script_name"] == "post"
    assert task["source"] == "api" and task["script_config"]["captions"].startswith("Check out")

    # Listing: filters, total, page/page_size (max 100).
    def listing(query: str) -> dict[str, Any]:
        status, reply = v1.call("GET", f"/api/v1/task{query}")
        assert (status, reply["code"]) == (200, 0), reply
        return reply["data"]

    everything = listing("")
    assert everything["total"] == 12 and len(everything["tasks"]) == 12
    assert listing("?script_name=follow")["total"] == 6
    assert listing("?serial=dev1")["total"] == 4  # 3 follows + the account_warmup by username
    assert listing("?serial=dev1&script_name=follow")["total"] == 3
    assert listing("?status=0")["total"] == 12 and listing("?status=2")["total"] == 0
    assert listing("?source=ui")["total"] == 0 and listing("?source=api")["total"] == 12
    page2 = listing("?page=2&page_size=5")
    assert (page2["page"], page2["page_size"], len(page2["tasks"]), page2["total"]) == (2, 5, 5, 12)
    assert listing("?page_size=500")["page_size"] == 100
    ids = [t["id"] for t in listing("?page=1&page_size=5")["tasks"] + page2["tasks"]
           + listing("?page=3&page_size=5")["tasks"]]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 12

    status, reply = v1.call("GET", "/api/v1/task/stats")
    assert reply["data"] == {"total": 12, "pending": 12, "running": 0, "completed": 0, "failed": 0}

    # Start: the tasks go to the retry queue; the worker submits them to the host, the poller sees the end.
    run_retry_worker()
    assert listing("?status=1")["total"] == 5  # one per device: dev1..dev4 and device_serial_1
    v1.sim.finish_all()
    assert poll_host(v1, v1.user.user_id) == 5
    run_retry_worker()
    stats = v1.call("GET", "/api/v1/task/stats")[1]["data"]
    assert (stats["completed"], stats["running"], stats["pending"]) == (5, 4, 3)  # one per free device
    assert v1.get(first)["status"] == 2 and v1.get(first)["finished_at"]


def test_start_time_is_resolved_in_the_users_time_zone(v1: V1World, frozen_clock: Any) -> None:
    admin.update_user(v1.user.user_id, timezone="Asia/Shanghai")  # now = 2025-10-09 08:53:20 UTC = 16:53 local
    status, reply = v1.call("POST", "/api/v1/task", {**POST, "start_time": "09:30"})
    assert reply["data"]["start_time"] == "2025-10-10T09:30:00+08:00"  # tomorrow: 09:30 has passed today
    task = v1.get(reply["data"]["task_ids"][0])
    assert task["scheduled_at"] == "2025-10-10T09:30:00+08:00" and task["status"] == 0
    assert task["start_time"] == "2025-10-10 09:30:00"  # the desktop UI's form, in the user's zone
    status, reply = v1.call("POST", "/api/v1/task", {**POST, "start_time": "17:00"})
    assert reply["data"]["start_time"] == "2025-10-09T17:00:00+08:00"
    status, reply = v1.call("POST", "/api/v1/task", {**POST, "start_time": "2025-10-09T12:00:00Z"})
    assert reply["data"]["start_time"] == "2025-10-09T20:00:00+08:00"
    # Scheduled tasks are not started now: nothing on the retry queue for them.
    assert retry_messages() == []


def test_bad_input_answers_its_code_and_writes_nothing(v1: V1World) -> None:
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 40001, ""),
        (b"[1, 2]", 40001, ""),
        ({**POST, "script_name": None}, 40002, "script_name"),
        ({"serials": ["dev1"], "script_config": {}}, 40002, "script_name"),
        ({**POST, "script_name": "dance"}, 40003, "dance"),
        ({**POST, "script_name": 5}, 40001, "script_name"),
        ({**POST, "serials": "dev1"}, 40001, "serials"),
        ({**POST, "serials": []}, 40001, "serials"),
        ({**POST, "serials": ["unknown-device"]}, 40001, "unknown-device"),
        ({**POST, "usernames": ["nobody"], "serials": None}, 40001, "nobody"),
        ({**POST, "script_config": "x"}, 40001, "script_config"),
        ({**POST, "script_config": {"content_type": "video", "material_list": ["a"]}}, 40001,
         "script_config.content_type"),
        ({**POST, "script_config": {"content_type": 5, "material_list": ["a"]}}, 40001,
         "script_config.content_type"),
        ({**POST, "script_config": {"captions": "x", "material_source": "localFolder"}}, 40001,
         "script_config.material_path"),
        ({**POST, "script_config": {"material_list": ["a"], "upload_wait_time": -1}}, 40001,
         "script_config.upload_wait_time"),
        ({"serials": ["dev1"], "script_name": "follow", "script_config": {}}, 40001,
         "script_config.target_users"),
        ({"serials": ["dev1"], "script_name": "follow", "script_config": {"target_users": [1]}}, 40001,
         "script_config.target_users"),
        ({**POST, "enable_multi_account": "yes"}, 40001, "enable_multi_account"),
        ({**POST, "start_time": "25:00"}, 40001, "start_time"),
        ({**POST, "start_time": 930}, 40001, "start_time"),
        ({**POST, "start_time": "2001-01-01T00:00:00Z"}, 40001, "past"),
    ]
    before = snapshot_tables()
    for body, code, mention in cases:
        raw = body if isinstance(body, bytes) else None
        status, reply = v1.call("POST", "/api/v1/task", None if raw else body, raw=raw)
        assert (status, reply["code"]) == (400, code), (body, reply)
        assert mention in reply["message"], (body, reply)
        assert reply["data"] is None
    for path, code in [("/api/v1/task?status=7", 40001), ("/api/v1/task?status=x", 40001),
                       ("/api/v1/task?page_size=-1", 40001), ("/api/v1/task?source=cli", 40001),
                       ("/api/v1/task?script_name=dance", 40003), ("/api/v1/task/abc", 40001),
                       ("/api/v1/task/0", 40001), ("/api/v1/task/99999", 40401)]:
        status, reply = v1.call("GET", path)
        assert reply["code"] == code, (path, reply)
    for body in (b"", b"{}", b'{"task_ids": "1"}', b'{"task_ids": [true]}', b'{"task_ids": ["x"]}', b"nope"):
        status, reply = v1.call("DELETE", "/api/v1/task/batch", raw=body)
        assert (status, reply["code"]) == (400, 40001), (body, reply)
    assert snapshot_tables() == before


def test_starter_plan_gets_40301_everywhere_and_license_check_shows_the_plan(v1: V1World) -> None:
    starter = make_account("starter1", plan="Starter")
    routes = [("POST", "/api/v1/task", POST), ("GET", "/api/v1/task", None), ("GET", "/api/v1/task/1", None),
              ("DELETE", "/api/v1/task/1", None), ("DELETE", "/api/v1/task/batch", {"task_ids": [1]}),
              ("POST", "/api/v1/task/1/stop", None), ("POST", "/api/v1/task/1/retry", None),
              ("POST", "/api/v1/task/retry-all", None), ("GET", "/api/v1/task/stats", None)]
    for method, path, body in routes:
        status, reply = v1.call(method, path, body, account=starter)
        assert (status, reply["code"]) == (403, 40301), (method, path, reply)
    status, reply = v1.call("GET", "/api/v1/license/check", account=starter)
    assert reply["code"] == 40301
    assert reply["data"] == {"plan_name": "Starter", "api_enabled": False, "device_limit": 5,
                             "message": reply["data"]["message"]}
    for plan, limit in (("Pro", 20), ("Team", 50), ("Business", 100)):
        admin.update_user(v1.user.user_id, plan=plan)
        status, reply = v1.call("GET", "/api/v1/license/check")
        assert (reply["code"], reply["data"]["plan_name"], reply["data"]["api_enabled"],
                reply["data"]["device_limit"]) == (0, plan, True, limit)
    # The access token works as well as the API key.
    status, reply = v1.call("GET", "/api/v1/task/stats", headers={"Authorization": f"Bearer {v1.user.access_token}"})
    assert reply["code"] == 0
    status, reply = v1.call("GET", "/api/v1/task/stats", headers={"Authorization": ""})
    assert status == 401


def test_another_users_task_is_invisible_on_every_route(v1: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = v1.create(POST)[0]
    before = quota(v1.user)
    stranger = v1.other
    for method, path, body in [("GET", f"/api/v1/task/{mine}", None), ("DELETE", f"/api/v1/task/{mine}", None),
                               ("POST", f"/api/v1/task/{mine}/stop", None),
                               ("POST", f"/api/v1/task/{mine}/retry", None)]:
        status, reply = v1.call(method, path, body, account=stranger)
        assert (status, reply["code"]) == (404, 40401), (method, path, reply)
    status, reply = v1.call("DELETE", "/api/v1/task/batch", {"task_ids": [mine]}, account=stranger)
    assert reply["data"] == {"deleted_count": 0, "deleted_ids": [], "not_found_ids": [mine], "failed": []}
    listed = v1.call("GET", f"/api/v1/task?serial={POST['serials'][0]}", account=stranger)[1]["data"]
    assert listed["total"] == 0 and listed["tasks"] == []
    assert v1.call("GET", "/api/v1/task/stats", account=stranger)[1]["data"]["total"] == 0
    assert v1.call("POST", "/api/v1/task/retry-all", account=stranger)[1]["data"] == 0
    assert v1.get(mine)["status"] == 0 and quota(v1.user) == before

    # Anything unexpected is 50001 in the v1 envelope, with a request id and no stack trace.
    from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks

    def broken(principal: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(v1_tasks, "stats", broken)
    status, reply = v1.call("GET", "/api/v1/task/stats")
    assert (status, reply["code"], reply["data"]) == (500, 50001, None)
    assert "internal error" in reply["message"] and "fire" not in reply["message"]
