"""The customer managed KMS key of the v1 script-config secrets (taskcenter/script_secrets.py), for
infra/template.py: the key, its alias, its key policy and the per-function grants.

A function declares `"kms": "encrypt"` (the v1 create route) or `"kms": "decrypt"` (the function that
submits to the TikMatrix host) in its PERMISSIONS entry and gets SAM's KMSEncryptPolicy / KMSDecryptPolicy
on this key only. The key policy lets the account's IAM policies grant use (the AWS default) and refuses
Encrypt/Decrypt without the encryption context the code binds every secret to (user_id, purpose), so the
key cannot be used for anything else even by a principal that may use it. docs/deploy.md lists the grants.
"""

from __future__ import annotations

from typing import Any

KEY_LOGICAL_ID = "V1SecretsKey"
ALIAS_LOGICAL_ID = "V1SecretsKeyAlias"
KEY_ENV = "V1_SECRETS_KEY_ARN"  # taskcenter.script_secrets.KEY_ENV
PURPOSE = "v1-script-secret"  # taskcenter.script_secrets.PURPOSE
KMS_MODES = {"encrypt": "KMSEncryptPolicy", "decrypt": "KMSDecryptPolicy"}
_CRYPTO_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def key_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountIamPoliciesGrantUse", "Effect": "Allow",
         "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "OnlyV1ScriptSecrets", "Effect": "Deny", "Principal": "*", "Action": list(_CRYPTO_ACTIONS),
         "Resource": "*", "Condition": {"StringNotEquals": {"kms:EncryptionContext:purpose": PURPOSE}}},
        {"Sid": "AlwaysBoundToAUser", "Effect": "Deny", "Principal": "*", "Action": list(_CRYPTO_ACTIONS),
         "Resource": "*", "Condition": {"Null": {"kms:EncryptionContext:user_id": "true"}}},
    ]}


def resources() -> dict[str, dict[str, Any]]:
    """The key (retained: deleting it would make every stored secret unreadable) and its alias."""
    return {
        KEY_LOGICAL_ID: {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {
                             "Description": "Task Center: secrets users put in v1 script_config (login passwords, "
                                            "API keys); docs/task-api-v1.md",
                             "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT",
                             "EnableKeyRotation": True, "PendingWindowInDays": 30, "KeyPolicy": key_policy()}},
        ALIAS_LOGICAL_ID: {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-v1-script-secrets"},
            "TargetKeyId": {"Ref": KEY_LOGICAL_ID}}},
    }


def environment() -> dict[str, Any]:
    return {KEY_ENV: {"Fn::GetAtt": [KEY_LOGICAL_ID, "Arn"]}}


def validate(where: str, mode: Any) -> None:
    if mode not in KMS_MODES:
        raise ValueError(f"{where}: kms {mode!r}; modes are {sorted(KMS_MODES)}")


def policy(mode: str) -> dict[str, Any]:
    return {KMS_MODES[mode]: {"KeyId": {"Ref": KEY_LOGICAL_ID}}}
