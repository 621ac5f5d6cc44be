"""Task API v1 deletes that race (issue 12, item 3): a lost race is a clean answer, a batch says per id what
happened, and "kept changing" / "only a finished task" are conflicts (HTTP 409, 40901), never a 500."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from taskcenter.domain import states
from taskcenter.store import money
from taskcenter.store.models import Task

from tests.integration.v1_support import V1World, run_retry_worker

HOLD = {"serials": ["dev1"], "script_name": "post",
        "script_config": {"material_list": ["C:/v.mp4"], "captions": "sim:hold"}}


def test_two_deletes_of_one_task_one_deletes_and_the_other_is_told_it_is_gone(
        v1: V1World, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks

    task_id = v1.create(HOLD)[0]
    run_retry_worker()
    assert Task.get(f"v1_{task_id}").status == states.IN_PROGRESS
    both_read = threading.Barrier(2, timeout=10)
    original = v1_tasks.own_task

    def own_task(principal: Any, numeric_id: int) -> Task:
        task = original(principal, numeric_id)
        both_read.wait()  # both requests hold the task as it was before either deleted it
        return task

    monkeypatch.setattr(v1_tasks, "own_task", own_task)
    replies: list[tuple[int, dict[str, Any]]] = []

    def delete() -> None:
        replies.append(v1.call("DELETE", f"/api/v1/task/{task_id}"))

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    outcomes = sorted((status, reply["code"]) for status, reply in replies)
    assert outcomes == [(200, 0), (404, 40401)], replies
    assert v1.call("GET", f"/api/v1/task/{task_id}")[0] == 404
    assert money.audit_user(v1.user.user_id).ok


def test_a_batch_delete_reports_each_id_when_one_vanishes_mid_loop(v1: V1World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks

    first, second, third = v1.create({**HOLD, "serials": ["dev1", "dev2", "dev3"]})
    run_retry_worker()
    original_stop = v1_tasks.stop_task

    def stop_task(task: Task) -> None:
        if int(task.id) == second and not getattr(stop_task, "done", False):
            stop_task.done = True  # type: ignore[attr-defined]
            original_delete(v1_principal(), second)  # another request deletes it after the batch read it
        original_stop(task)

    original_delete = v1_tasks.delete

    def v1_principal() -> Any:
        from taskcenter.services.core.auth import authenticate_any

        return authenticate_any(f"Bearer {v1.user.api_key}", None)

    monkeypatch.setattr(v1_tasks, "stop_task", stop_task)
    status, reply = v1.call("DELETE", "/api/v1/task/batch", {"task_ids": [first, second, third]})
    assert (status, reply["code"]) == (200, 0), reply
    assert reply["data"] == {"deleted_count": 2, "deleted_ids": [first, third], "not_found_ids": [second],
                             "failed": []}
    assert all(v1.call("GET", f"/api/v1/task/{n}")[0] == 404 for n in (first, second, third))
    assert money.audit_user(v1.user.user_id).ok


def test_a_task_that_keeps_changing_is_a_conflict_alone_and_in_a_batch(v1: V1World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from taskcenter.services.task_api_v1 import task_endpoints as v1_tasks

    first, second = v1.create({**HOLD, "serials": ["dev1", "dev2"]})
    monkeypatch.setattr(v1_tasks, "fail_task", lambda task, reason, refund_now=False: False)  # always loses
    status, reply = v1.call("DELETE", f"/api/v1/task/{first}")
    assert (status, reply["code"]) == (409, 40901) and "kept changing" in reply["message"], reply
    status, reply = v1.call("DELETE", "/api/v1/task/batch", {"task_ids": [first, second, 987654]})
    assert (status, reply["code"]) == (200, 0), reply
    assert reply["data"]["deleted_ids"] == [] and reply["data"]["not_found_ids"] == [987654]
    assert [(f["task_id"], f["code"]) for f in reply["data"]["failed"]] == [(first, 40901), (second, 40901)]
    monkeypatch.undo()
    assert v1.get(first)["status"] == 0  # untouched: still pending
