"""The results bucket in template.yaml (infra/template_results.py, docs/results.md): private, encrypted, TLS
only, expiring after the ResultsRetentionDays parameter; only the keep worker writes, only the result routes
read, each on the bucket's objects alone; the local stack creates it from the template like the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from infra import template_results
from infra.local import cfn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(ROOT / "template.yaml")


def test_bucket_is_private_encrypted_tls_only_and_expires_by_parameter(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ResultsBucket"]
    props = bucket["Properties"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}  # no ACLs
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in {"AES256", "aws:kms"}
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "ResultsRetentionDays"}
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    parameter = template["Parameters"]["ResultsRetentionDays"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] >= 1
    statement = template["Resources"]["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["RESULTS_BUCKET"] == {"Ref": "ResultsBucket"}


def _s3_grants(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for policy in res["Properties"].get("Policies") or []:
            for statement in policy.get("Statement") or []:
                if any(str(a).startswith("s3:") for a in statement["Action"]):
                    out.setdefault(logical_id, []).append(statement)
    return out


def test_only_the_keep_worker_writes_and_only_the_result_routes_read(template: dict[str, Any]) -> None:
    grants = _s3_grants(template)
    assert sorted(grants) == ["JobsKeepWorkerFunction", "MjGetMjImageFunction", "SunoResultFunction",
                              "VideoDownloadVideoContentFunction"]  # the content route presigns a kept video
    objects = {"Fn::Sub": "${ResultsBucket.Arn}/*"}
    for logical_id, statements in grants.items():
        for statement in statements:
            assert statement["Effect"] == "Allow" and statement["Resource"] == objects, logical_id
            assert not {"s3:*", "s3:DeleteObject", "s3:ListBucket"} & set(statement["Action"]), logical_id
    assert grants["JobsKeepWorkerFunction"][0]["Action"] == list(template_results.RESULTS_MODES["write"])
    assert grants["MjGetMjImageFunction"][0]["Action"] == ["s3:GetObject"]
    keep = template["Resources"]["JobsKeepWorkerFunction"]["Properties"]
    assert keep["Events"]["SqsKeep"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "KeepDeadLetterQueueAlarm" in template["Resources"] and "ResultsKeepFailedAlarm" in template["Resources"]


def test_local_stack_creates_every_bucket_of_the_template(template: dict[str, Any]) -> None:
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        resources = cfn.create_buckets(template, s3, cfn.Resources(tables={}, queues={}))
        assert resources.buckets == {"ResultsBucket": "local-resultsbucket"}
        rules = s3.get_bucket_lifecycle_configuration(Bucket="local-resultsbucket")["Rules"]
        assert rules[0]["Expiration"] == {"Days": template["Parameters"]["ResultsRetentionDays"]["Default"]}
        assert s3.get_public_access_block(Bucket="local-resultsbucket")["PublicAccessBlockConfiguration"][
            "RestrictPublicBuckets"] is True
        env = cfn.binding_environment(template, resources)
        assert env["RESULTS_BUCKET"] == "local-resultsbucket"


def test_kept_files_may_be_read_cross_origin_without_credentials(template: dict[str, Any]) -> None:
    """A web client draws a kept image into a canvas after the redirect: the bucket allows any origin to GET."""
    rules = template["Resources"][template_results.BUCKET_LOGICAL_ID]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rules == [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["*"],
                      "MaxAge": 86400}]
