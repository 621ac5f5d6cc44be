"""Channel secrets in template.yaml: which functions may read them, which may write them, and on what.

Only the functions that call upstreams get secretsmanager:GetSecretValue, only the admin function may
create, version, delete, restore or tag, and both only on this stack's `taskcenter/<stack>/channel/*`
(docs/admin.md "Channel secrets", docs/deploy.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from infra import template as generator

# Every function that builds a provider (services.channels.info): submissions, polling, retries, v1 stop/delete
# (a v1 create or retry only enqueues: the retry worker submits).
READERS = {
    "SunoSubmitFunction",
    *(f"MjSubmitMj{kind}Function" for kind in ("Imagine", "Action", "Blend", "Describe", "Modal", "Shorten", "Change")),
    # issue 14: the routes new-api added, and the seed asked of the task's channel
    *(f"MjSubmitMj{kind}Function" for kind in ("SimpleChange", "Edits", "Video", "SwapFace", "Upload")),
    "MjGetMjImageSeedFunction",
    *(f"V1{name}Function" for name in ("DeleteTask", "BatchDeleteTasks", "StopTask")),
    "JobsPollWorkerFunction",
    "JobsRetryWorkerFunction",
    "JobsKeepWorkerFunction",  # Sora's and Veo's results need the channel's key (docs/results.md)
    "VideoCreateVideoFunction",
    "VideoRemixVideoFunction",
    "VideoNewapiSubmitVideoGenerationFunction",
    "VideoNewapiSubmitKlingVideoFunction",
}
WRITER = "AdminOperationFunction"
PREFIX_ARN = ("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
              "taskcenter/${AWS::StackName}/channel/*")


@pytest.fixture(scope="module")
def functions() -> dict[str, dict[str, Any]]:
    template = generator.build_template(warn=False)
    return {lid: r["Properties"] for lid, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def _secret_statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in props.get("Policies") or []:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if any(str(a).startswith("secretsmanager:") for a in statement["Action"]):
                out.append(statement)
    return out


def test_only_the_functions_that_call_upstreams_read_channel_secrets(functions):
    readers = {lid for lid, props in functions.items()
               if any("secretsmanager:GetSecretValue" in s["Action"] for s in _secret_statements(props))}
    assert readers == READERS
    assert "MjGetMjImageFunction" not in readers  # the image proxy fetches public URLs, without credentials
    for lid in READERS:
        (statement,) = _secret_statements(functions[lid])
        assert statement == {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                             "Resource": {"Fn::Sub": PREFIX_ARN}}, lid


def test_only_the_admin_function_writes_them_and_it_cannot_read_them(functions):
    writers = {lid for lid, props in functions.items()
               if any(a != "secretsmanager:GetSecretValue" for s in _secret_statements(props) for a in s["Action"])}
    assert writers == {WRITER}
    (statement,) = _secret_statements(functions[WRITER])
    assert sorted(statement["Action"]) == ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret",
                                           "secretsmanager:PutSecretValue", "secretsmanager:RestoreSecret",
                                           "secretsmanager:TagResource"]
    assert statement["Resource"] == {"Fn::Sub": PREFIX_ARN}


def test_every_function_knows_the_stack_s_prefix():
    template = generator.build_template(warn=False)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CHANNEL_SECRET_PREFIX"] == {"Fn::Sub": "taskcenter/${AWS::StackName}/channel/"}


def test_an_unknown_secrets_mode_is_refused():
    spec = generator.FunctionSpec("functions.jobs.poll_worker", "functions.jobs.poll_worker", "sqs")
    with pytest.raises(ValueError, match="secrets"):
        generator.validate_permissions(spec, {"secrets": "admin"})
