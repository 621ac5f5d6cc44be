"""The v1 script-secrets key in template.yaml (issue 12 item 9): only the v1 create route may encrypt, only the
function that submits to the TikMatrix host (the retry worker) may decrypt, on that key only; the key policy
refuses any use without the encryption context the code binds every secret to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taskcenter import script_secrets

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


def test_only_create_encrypts_and_only_the_retry_worker_decrypts_on_that_key_only(template):
    grants = _kms_grants(template)
    key = {"KeyId": {"Ref": "V1SecretsKey"}}
    assert grants == {"V1CreateTaskFunction": [{"KMSEncryptPolicy": key}],
                      "JobsRetryWorkerFunction": [{"KMSDecryptPolicy": key}]}
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

    denies = [s for s in props["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
    context = script_secrets.context_for(1)
    conditions = {k: v for s in denies for op in s["Condition"].values() for k, v in op.items()}
    # Every context key the code sends is one the key policy requires, with the code's purpose.
    assert {k.removeprefix("kms:EncryptionContext:") for k in conditions} == set(context)
    assert conditions["kms:EncryptionContext:purpose"] == context["purpose"] == template_kms.PURPOSE
    assert all({"kms:Encrypt", "kms:Decrypt"} <= set(s["Action"]) for s in denies)
    assert template_kms.KEY_ENV == script_secrets.KEY_ENV
