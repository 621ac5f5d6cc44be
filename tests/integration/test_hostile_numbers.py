"""Issue 12 item 11: numbers from clients are ASCII digits only, on every surface.

"²" passes str.isdigit() and int() raises (a 500 before); "٣" is accepted by int() (silently taken as 3).
Each refusal is a 4xx in the surface's envelope and writes nothing.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from tests.integration.hostile_support import (
    UNICODE_DIGITS,
    assert_dashboard_refusal,
    assert_mj_refusal,
    assert_v1_refusal,
    request,
    snapshot,
)

DASHBOARD_ROUTES = ("/api/user/self", "/api/task/self", "/api/task/", "/api/mj/self", "/api/mj/")
TASK_LISTING_PARAMS = ("p", "page_size", "ps", "size", "start_timestamp", "end_timestamp")
V1_BODY = {"script_name": "follow", "serials": ["dev1"], "script_config": {"target_usernames": ["someone"]}}


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@pytest.mark.parametrize("route", DASHBOARD_ROUTES)
@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_new_api_user_header_with_unicode_digits_is_a_401(client: Any, world: Any, route: str, value: str) -> None:
    before = snapshot()
    for token in (world.admin.access_token, "garbage-token"):  # the header is read before the token is checked
        headers = {"Authorization": f"Bearer {token}", "New-Api-User": value}
        status, body = request(client, "GET", route, headers)
        assert_dashboard_refusal(status, body, 401)
        headers["New-Api-User"] = f"Bearer {value}"
        status, body = request(client, "GET", route, headers)
        assert_dashboard_refusal(status, body, 401)
    assert snapshot() == before


def test_an_arabic_indic_user_id_does_not_name_the_user(client: Any, world: Any) -> None:
    """int("٢") == 2 would have matched the user's own id: it must not authenticate."""
    arabic = "".join(chr(0x0660 + int(d)) for d in str(world.admin.user_id))
    status, body = request(client, "GET", "/api/user/self",
                           {"Authorization": f"Bearer {world.admin.access_token}", "New-Api-User": arabic})
    assert_dashboard_refusal(status, body, 401)


@pytest.mark.parametrize("route", ("/api/task/self", "/api/task/", "/api/mj/self", "/api/mj/"))
@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_dashboard_listing_numbers_with_unicode_digits_are_a_400(client: Any, world: Any, route: str,
                                                                 value: str) -> None:
    params = TASK_LISTING_PARAMS + (("channel_id",) if not route.endswith("self") else ())
    before = snapshot()
    for name in params:
        status, body = request(client, "GET", f"{route}?{name}={_q(value)}", world.admin.dashboard_headers())
        assert_dashboard_refusal(status, body)
        assert name in body["message"], body
    assert snapshot() == before


def test_ascii_numbers_still_work_on_the_listings(client: Any, world: Any) -> None:
    for route in ("/api/task/self", "/api/task/", "/api/mj/self", "/api/mj/"):
        status, body = request(client, "GET", f"{route}?p=1&page_size=10&start_timestamp=0",
                               world.admin.dashboard_headers())
        assert status == 200 and body["success"] is True, body
        assert body["data"]["page_size"] == 10


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_v1_listing_and_path_ids_with_unicode_digits_are_a_400(client: Any, v1: Any, value: str) -> None:
    before = snapshot()
    for name in ("status", "page", "page_size"):
        status, body = v1.call("GET", f"/api/v1/task?{name}={_q(value)}")
        assert_v1_refusal(status, body)
    for method, path in (("GET", "/api/v1/task/{}"), ("DELETE", "/api/v1/task/{}"),
                         ("POST", "/api/v1/task/{}/stop"), ("POST", "/api/v1/task/{}/retry")):
        status, body = v1.call(method, path.format(_q(value)))
        assert_v1_refusal(status, body)
    assert snapshot() == before


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_v1_batch_delete_with_unicode_digit_ids_is_a_400(client: Any, v1: Any, value: str) -> None:
    created = v1.create(V1_BODY)
    before = snapshot()
    status, body = v1.call("DELETE", "/api/v1/task/batch", {"task_ids": [str(created[0]), value]})
    assert_v1_refusal(status, body)
    assert snapshot() == before  # nothing deleted: the whole batch is refused before any delete


def test_v1_start_time_with_unicode_digits_is_a_400(client: Any, v1: Any) -> None:
    before = snapshot()
    for start in ("\u0663:00", "0\u0663:00", "1\u00b2:00", "\u0661\u0660:\u0663\u0660", "2026-12-0\u0661T10:00:00"):
        status, body = v1.call("POST", "/api/v1/task", {**V1_BODY, "start_time": start})
        assert_v1_refusal(status, body)
        assert "start_time" in body["message"], body
    assert snapshot() == before


@pytest.mark.parametrize("index", ("\u00b2", "\u0663", "\uff12"))
def test_mj_button_index_with_unicode_digits_is_refused(client: Any, world: Any, index: str) -> None:
    before = snapshot()
    status, body = request(client, "POST", "/mj/submit/action", world.user.relay_headers(),
                           {"taskId": "1", "customId": f"MJ::JOB::upsample::{index}::abc"})
    assert_mj_refusal(status, body)
    assert "index" in body["description"], body
    assert snapshot() == before


def test_admin_operations_take_ascii_ids_only(world: Any) -> None:
    from taskcenter.services.admin import operation_specs as admin_ops

    before = snapshot()
    for value in ("\u0662", "\u00b2", "\uff12"):
        reply = admin_ops.run({"op": "top_up", "user_id": value, "amount": 100})
        assert reply["ok"] is False and reply["error"] == "invalid_request", reply
        reply = admin_ops.run({"op": "top_up", "user_id": world.user.user_id, "amount": f"1{value}"})
        assert reply["ok"] is False and reply["error"] == "invalid_request", reply
    assert snapshot() == before
