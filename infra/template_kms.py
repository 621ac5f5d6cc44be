"""The stack's customer managed KMS key, for infra/template.py: the key, its alias, its key policy and the
per-function grants. It seals the v1 script-config secrets (taskcenter/script_secrets.py) and the webhook
signing secrets (services/webhooks/signing_secrets.py), each under its own encryption-context purpose.

A function declares in its PERMISSIONS entry:
- `"kms": "encrypt"` (the v1 create route) or `"kms": "decrypt"` (the function that submits to the TikMatrix
  host): SAM's KMSEncryptPolicy / KMSDecryptPolicy on this key only;
- `"kms": "webhook-seal"` (the routes that create or rotate a webhook secret): kms:Encrypt, or
  `"kms": "webhook-sign"` (the delivery worker: opens to sign, seals a legacy plaintext row on read):
  kms:Decrypt and kms:Encrypt, on this key only and only with the webhook purpose in the encryption context.
The key policy lets the account's IAM policies grant use (the AWS default) and refuses Encrypt/Decrypt
without the encryption context the code binds every secret to (user_id and a known purpose; a webhook
secret also its endpoint_id), so the key cannot be used for anything else even by a principal that may use
it. docs/deploy.md lists the grants.
"""

from __future__ import annotations

from typing import Any

KEY_LOGICAL_ID = "V1SecretsKey"
ALIAS_LOGICAL_ID = "V1SecretsKeyAlias"
KEY_ENV = "V1_SECRETS_KEY_ARN"  # taskcenter.script_secrets.KEY_ENV
PURPOSE = "v1-script-secret"  # taskcenter.script_secrets.PURPOSE
WEBHOOK_PURPOSE = "webhook-signing-secret"  # taskcenter.services.webhooks.signing_secrets.PURPOSE
PURPOSES = (PURPOSE, WEBHOOK_PURPOSE)
KMS_MODES = {"encrypt": "KMSEncryptPolicy", "decrypt": "KMSDecryptPolicy"}
WEBHOOK_MODES = {"webhook-seal": ["kms:Encrypt"], "webhook-sign": ["kms:Decrypt", "kms:Encrypt"]}
_CRYPTO_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def key_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountIamPoliciesGrantUse", "Effect": "Allow",
         "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "OnlyKnownPurposes", "Effect": "Deny", "Principal": "*", "Action": list(_CRYPTO_ACTIONS),
         "Resource": "*", "Condition": {"StringNotEquals": {"kms:EncryptionContext:purpose": list(PURPOSES)}}},
        {"Sid": "AlwaysBoundToAUser", "Effect": "Deny", "Principal": "*", "Action": list(_CRYPTO_ACTIONS),
         "Resource": "*", "Condition": {"Null": {"kms:EncryptionContext:user_id": "true"}}},
        {"Sid": "WebhookSecretsBoundToAnEndpoint", "Effect": "Deny", "Principal": "*",
         "Action": list(_CRYPTO_ACTIONS), "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": WEBHOOK_PURPOSE},
                       "Null": {"kms:EncryptionContext:endpoint_id": "true"}}},
    ]}


def resources() -> dict[str, dict[str, Any]]:
    """The key (retained: deleting it would make every stored secret unreadable) and its alias."""
    return {
        KEY_LOGICAL_ID: {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {
                             "Description": "Task Center: secrets users put in v1 script_config (login passwords, "
                                            "API keys; docs/task-api-v1.md) and webhook signing "
                                            "secrets (docs/webhooks.md)",
                             "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT",
                             "EnableKeyRotation": True, "PendingWindowInDays": 30, "KeyPolicy": key_policy()}},
        ALIAS_LOGICAL_ID: {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-v1-script-secrets"},
            "TargetKeyId": {"Ref": KEY_LOGICAL_ID}}},
    }


def environment() -> dict[str, Any]:
    return {KEY_ENV: {"Fn::GetAtt": [KEY_LOGICAL_ID, "Arn"]}}


def validate(where: str, mode: Any) -> None:
    if mode not in KMS_MODES and mode not in WEBHOOK_MODES:
        raise ValueError(f"{where}: kms {mode!r}; modes are {sorted([*KMS_MODES, *WEBHOOK_MODES])}")


def policy(mode: str) -> dict[str, Any]:
    if mode in WEBHOOK_MODES:  # least privilege: these actions, this key, the webhook purpose only
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": list(WEBHOOK_MODES[mode]),
            "Resource": {"Fn::GetAtt": [KEY_LOGICAL_ID, "Arn"]},
            "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": WEBHOOK_PURPOSE}}}]}
    return {KMS_MODES[mode]: {"KeyId": {"Ref": KEY_LOGICAL_ID}}}
