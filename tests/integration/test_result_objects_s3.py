"""The results bucket contract (tests/result_objects_contract.py) against S3 (moto), through boto3's managed
multipart transfer."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter import config
from taskcenter.store.result_objects import S3ResultObjects

from tests.result_objects_contract import ResultObjectsContract


class TestS3ResultObjects(ResultObjectsContract):
    @pytest.fixture
    def objects(self, aws: dict[str, Any]) -> S3ResultObjects:
        return S3ResultObjects(config.results_bucket())
