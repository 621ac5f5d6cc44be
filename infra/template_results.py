"""The results bucket (docs/results.md) for infra/template.py: the bucket, its policy, its retention
parameter and the per-function grants.

Private (every public-access block on, ACLs disabled), encrypted at rest (SSE-S3 with a bucket key), TLS only
(the bucket policy), objects expire after `ResultsRetentionDays` (lifecycle; unfinished multipart uploads
after a day). A function declares `"results": "write"` (the keep worker: put, abort a multipart upload, head)
or `"results": "read"` (the routes that presign a GET) in its PERMISSIONS entry and gets those actions on
this bucket's objects only; nothing may list or delete. docs/deploy.md lists the grants.
"""

from __future__ import annotations

from typing import Any

BUCKET_LOGICAL_ID = "ResultsBucket"
POLICY_LOGICAL_ID = "ResultsBucketPolicy"
RETENTION_PARAMETER = "ResultsRetentionDays"
BUCKET_ENV = "RESULTS_BUCKET"  # taskcenter.config.RESULTS_BUCKET_ENV
DEFAULT_RETENTION_DAYS = 30
KEEP_FAILED_METRIC = "ResultsKeepFailed"
NOT_QUEUED_METRIC = "ResultsKeepNotQueued"
RESULTS_MODES = {"read": ("s3:GetObject",),
                 "write": ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")}


def _objects() -> dict[str, str]:
    """The bucket's objects' ARN (a new dict each time: a shared one would become a YAML alias)."""
    return {"Fn::Sub": f"${{{BUCKET_LOGICAL_ID}.Arn}}/*"}


def parameter() -> dict[str, Any]:
    return {RETENTION_PARAMETER: {
        "Type": "Number", "Default": DEFAULT_RETENTION_DAYS, "MinValue": 1,
        "Description": "Days a kept result file (image, audio, video) stays in the results bucket (docs/results.md)"}}


def resources() -> dict[str, dict[str, Any]]:
    bucket_arn = {"Fn::GetAtt": [BUCKET_LOGICAL_ID, "Arn"]}
    return {
        BUCKET_LOGICAL_ID: {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                            "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            # Web clients draw kept images into a canvas (crossOrigin=anonymous) after the redirect: any origin
            # may GET an object (the presigned URL is the only key; no credentials), as new-api's image relay.
            "CorsConfiguration": {"CorsRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"],
                                                 "AllowedHeaders": ["*"], "MaxAge": 86400}]},
            "LifecycleConfiguration": {"Rules": [{
                "Id": "ExpireKeptResults", "Status": "Enabled",
                "ExpirationInDays": {"Ref": RETENTION_PARAMETER},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
        }},
        POLICY_LOGICAL_ID: {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": BUCKET_LOGICAL_ID},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [bucket_arn, _objects()],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
    }


def environment() -> dict[str, Any]:
    return {BUCKET_ENV: {"Ref": BUCKET_LOGICAL_ID}}


def validate(where: str, mode: Any) -> None:
    if mode not in RESULTS_MODES:
        raise ValueError(f"{where}: results {mode!r}; modes are {sorted(RESULTS_MODES)}")


def policy(mode: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": list(RESULTS_MODES[mode]), "Resource": _objects()}]}
