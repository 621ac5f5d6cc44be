"""The cost model's in-flight run (tests/bench/poll_concurrency.py) batches poll messages as the deployed poll
worker is fed: the BatchSize it reads from app.py is the one template.yaml gives the poll queue's consumer."""

from __future__ import annotations

from pathlib import Path

from infra.local import cfn
from tests.bench import poll_concurrency

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_batch_size_is_the_template_s_poll_batch_size() -> None:
    resources = cfn.load_template(ROOT / "template.yaml")["Resources"]
    sizes = [event["Properties"]["BatchSize"]
             for res in resources.values() if res["Type"] == "AWS::Serverless::Function"
             for event in res["Properties"].get("Events", {}).values()
             if event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": ["PollQueue", "Arn"]}]
    assert sizes == [poll_concurrency.poll_batch_size()]
