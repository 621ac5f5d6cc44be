"""The stack's KMS key in template.yaml. v1 script secrets (issue 12 item 9): only the v1 create route may
encrypt, only the function that submits to the TikMatrix host (the retry worker) may decrypt. Webhook signing
secrets: only the routes that make a secret (create, rotate) may encrypt, only the delivery worker may decrypt,
and only with the webhook purpose in the encryption context. All on that key only; the key policy refuses any
use without the encryption context the code binds every secret to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taskcenter import script_secrets
from taskcenter.services.webhooks import signing_secrets

from infra import template_kms
from infra.local import cfn

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(TEMPLATE_PATH)


def _kms_grants(template: dict[str, Any]) -> dict[str, list[Any]]:
    """function -> its KMS policies (policy templates, or any statement naming a kms: action)."""
    out: dict[str, list[Any]] = {}
    for logical_id, props in cfn.resources_of(template, "AWS::Serverless::Function").items():
        for policy in props.get("Policies") or []:
            kms_template = next((k for k in policy if k.startswith("KMS")), None) if isinstance(policy, dict) else None
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
            if kms_template or any(str(a).lower().startswith("kms:") or a == "*" for a in actions):
                out.setdefault(logical_id, []).append(policy)
    return out


def _webhook_grant(*actions: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": list(actions), "Resource": {"Fn::GetAtt": ["V1SecretsKey", "Arn"]},
        "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": signing_secrets.PURPOSE}}}]}


def test_only_create_encrypts_and_only_the_retry_worker_decrypts_on_that_key_only(template):
    grants = _kms_grants(template)
    key = {"KeyId": {"Ref": "V1SecretsKey"}}
    assert grants == {"V1CreateTaskFunction": [{"KMSEncryptPolicy": key}],
                      "JobsRetryWorkerFunction": [{"KMSDecryptPolicy": key}],
                      # webhook secrets (services/webhooks/signing_secrets.py): the routes that make one seal it;
                      # the worker opens it to sign and seals a plaintext row from before encryption.
                      "WebhooksCreateWebhookEndpointFunction": [_webhook_grant("kms:Encrypt")],
                      "WebhooksRotateWebhookSecretFunction": [_webhook_grant("kms:Encrypt")],
                      "WebhooksWebhookWorkerFunction": [_webhook_grant("kms:Decrypt", "kms:Encrypt")]}
    functions = cfn.resources_of(template, "AWS::Serverless::Function")
    assert functions["WebhooksWebhookWorkerFunction"]["Handler"] == "functions.webhooks.webhook_worker"
    # The retry worker is the only function that submits v1 tasks (jobs/retry_worker.py -> dispatch_to_upstream).
    retry = cfn.resources_of(template, "AWS::Serverless::Function")["JobsRetryWorkerFunction"]
    assert retry["Handler"] == "functions.jobs.retry_worker"


def test_the_key_is_retained_rotated_aliased_and_bound_to_the_code_context(template):
    key = template["Resources"]["V1SecretsKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["DeletionPolicy"] == "Retain"
    props = key["Properties"]
    assert props["EnableKeyRotation"] is True and props["KeySpec"] == "SYMMETRIC_DEFAULT"
    alias = template["Resources"]["V1SecretsKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "V1SecretsKey"}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables[script_secrets.KEY_ENV] == {"Fn::GetAtt": ["V1SecretsKey", "Arn"]}

    denies = {s["Sid"]: s for s in props["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"}
    assert all({"kms:Encrypt", "kms:Decrypt"} <= set(s["Action"]) for s in denies.values())
    # Only the purposes the code uses, each always bound to a user.
    assert denies["OnlyKnownPurposes"]["Condition"] == {"StringNotEquals": {"kms:EncryptionContext:purpose": [
        script_secrets.context_for(1)["purpose"], signing_secrets.context_for(1, "ep_x")["purpose"]]}}
    assert denies["AlwaysBoundToAUser"]["Condition"] == {"Null": {"kms:EncryptionContext:user_id": "true"}}
    # A webhook secret is also bound to its endpoint (a ciphertext copied to another row does not open).
    assert denies["WebhookSecretsBoundToAnEndpoint"]["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:purpose": signing_secrets.PURPOSE},
        "Null": {"kms:EncryptionContext:endpoint_id": "true"}}
    # Every context key the code sends is one the key policy names.
    named = {k.removeprefix("kms:EncryptionContext:") for s in denies.values() for op in s["Condition"].values()
             for k in op}
    assert set(script_secrets.context_for(1)) | set(signing_secrets.context_for(1, "ep_x")) == named
    assert template_kms.PURPOSE == script_secrets.PURPOSE and template_kms.WEBHOOK_PURPOSE == signing_secrets.PURPOSE
    assert template_kms.KEY_ENV == script_secrets.KEY_ENV
