"""The local stack's API serves concurrent clients (issue 12 item 15; docs/local-stack.md, "The API").

`chalice local` listens with socketserver's default backlog of 5: a burst of 32 connections overflowed it and
clients saw connection resets. The stack serves the API with a larger backlog, threaded.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import RunningStack
from tests.support import make_account

pytestmark = pytest.mark.e2e

CLIENTS = 64


def _post(url: str, path: str, headers: dict[str, str], body: dict[str, object],
          barrier: threading.Barrier) -> tuple[int | None, str]:
    """One fresh connection per client (no keep-alive), opened when every client is ready: a burst."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        barrier.wait(timeout=60)
        connection.request("POST", path, body=json.dumps(body), headers=headers)
        reply = connection.getresponse()
        reply.read()
        return reply.status, ""
    except OSError as error:  # ConnectionResetError, BrokenPipeError, refused...: no HTTP answer
        return None, repr(error)
    finally:
        connection.close()


def test_64_concurrent_posts_all_get_an_http_answer(local_stack: RunningStack,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    local_stack.use_env(monkeypatch)
    account = make_account("burst" + secrets.token_hex(3), quota=500_000_000)
    headers = {**account.relay_headers(), "Connection": "close"}
    barrier = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(_post, local_stack.api_url, "/suno/submit/music", headers,
                               {"prompt": f"burst song {i}"}, barrier) for i in range(CLIENTS)]
        results = [f.result() for f in futures]
    unanswered = [error for status, error in results if status is None]
    statuses = sorted(status for status, _ in results if status is not None)
    assert not unanswered, f"{len(unanswered)} of {CLIENTS} got no HTTP answer: {unanswered[:3]}"
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) == CLIENTS, statuses  # each a task, charged once
    local_stack.settle()  # the total follows the tasks stream
    status, body = local_stack.get("/api/task/self?page_size=100", headers=account.dashboard_headers())
    assert status == 200 and body["data"]["total"] == CLIENTS, body
