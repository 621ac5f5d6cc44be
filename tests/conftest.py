"""Shared fixtures. `aws` gives a fresh in-process moto account with every table, queue and KMS key created."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "layers"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# Never reach a real AWS account from tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "TaskCenter")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("DYNAMODB_ENDPOINT_URL", None)

# Tests change the environment between calls (monkeypatch.setenv, the local stack's variables): settings follow
# it instead of being read once as on Lambda (taskcenter/settings.py).
from taskcenter import settings  # noqa: E402

settings.follow_environment(True)

import functions  # noqa: E402,F401 - the composition root: installs the platform table (functions/_composition.py)


def _private_key_for(key_spec: str) -> object:
    from moto.kms.utils import generate_private_key

    return _one_private_key() if key_spec == "SYMMETRIC_DEFAULT" else generate_private_key(key_spec)


@functools.cache
def _one_private_key() -> object:
    from moto.kms.utils import generate_private_key

    return generate_private_key("SYMMETRIC_DEFAULT")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh moto account: tables (from the PynamoDB models) and queues (with DLQs), env vars set."""
    from moto import mock_aws
    from taskcenter.store import channel_secrets

    from tests.support import (
        create_kms_key,
        create_queues,
        create_results_bucket,
        create_tables,
        drain_task_stream,
        serialize_aws_requests,
    )

    # moto makes an RSA-2048 private key for every KMS key, a symmetric one too (moto/kms/models.py, Key):
    # 0.06 s a test for a key no symmetric operation reads; one is made per process instead
    monkeypatch.setattr("moto.kms.models.generate_private_key", _private_key_for)
    channel_secrets.clear_cache()  # channel ids (and so secret names) start over in every fresh account
    # boto3's default session (and the service models it loaded) outlives the account: moto would make a
    # new one per test, loading botocore's JSON again (~0.1 s a test); the credentials above never change
    with mock_aws(config={"core": {"reset_boto3_session": False}}), serialize_aws_requests():
        for var, value in create_tables().items():
            monkeypatch.setenv(var, value)
        for var, value in create_queues().items():
            monkeypatch.setenv(var, value)
        for var, value in create_kms_key().items():
            monkeypatch.setenv(var, value)
        for var, value in create_results_bucket().items():
            monkeypatch.setenv(var, value)
        with drain_task_stream():  # the stream consumer keeps up (listing totals, task events)
            yield dict(os.environ)


@pytest.fixture
def task_stream(aws: dict[str, str]) -> object:
    """The `aws` fixture's in-process consumer of the tasks table's stream (tests/support.drain_task_stream)."""
    from tests import support

    return support.active_stream


@pytest.fixture
def frozen_clock() -> Iterator[object]:
    from taskcenter import clock

    clock.set_now(1_760_000_000_000)
    yield clock
    clock.set_now(None)


@pytest.fixture
def world(aws: dict[str, str]) -> object:
    """Seeded: an admin, a user with quota, their tokens and keys (see tests/support.py)."""
    from tests.support import seed_world

    return seed_world()


@pytest.fixture
def client(aws: dict[str, str]) -> Iterator[object]:
    from chalice.test import Client

    from app import app

    with Client(app) as c:
        yield c


@pytest.fixture
def dynamodb_calls() -> Iterator[list[tuple[str, str]]]:
    """Records (operation, table) of every DynamoDB request made after the fixture starts."""
    from tests.support import record_dynamodb_calls

    with record_dynamodb_calls() as calls:
        yield calls
