"""The local stack builds its tables and queues from template.yaml (in-process moto; no servers needed)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from taskcenter.config import QUEUE_ENV, TABLE_ENV

from infra.local import cfn
from infra.local.environment import stack_env
from infra.local.stack import fallback_template

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  TaskTimeoutSeconds: {Type: Number, Default: 86400}
Globals:
  Function:
    Runtime: python3.11
    Environment:
      Variables:
        USERS_TABLE: !Ref UsersTable
        POLL_QUEUE_URL: !Ref PollQueue
        POLL_QUEUE_ARN: !GetAtt PollQueue.Arn
        TASK_TIMEOUT_SECONDS: !Ref TaskTimeoutSeconds
        POLL_SHARDS: 4
        DEBUG_FLAG: false
        STACK_LABEL: !Sub "${AWS::StackName}-label"
Resources:
  UsersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-users"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: N}
        - {AttributeName: email, AttributeType: S}
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by_email
          KeySchema: [{AttributeName: email, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  PollDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties: {MessageRetentionPeriod: 1209600}
  PollQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 90
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt [PollDeadLetterQueue, Arn]
        maxReceiveCount: 3
  RefundQueue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: !Sub '{"deadLetterTargetArn": "x"}'
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.app
      Environment:
        Variables:
          REFUND_QUEUE_URL: !GetAtt RefundQueue.QueueUrl
          FEATURE: !If [IsProd, "a", "b"]
"""


def valid_template() -> dict:
    """TEMPLATE without its deliberately broken redrive policy."""
    return cfn.parse_template(TEMPLATE.replace("""      RedrivePolicy: !Sub '{"deadLetterTargetArn": "x"}'\n""", ""))


def test_short_tags_are_read_as_long_forms():
    template = cfn.parse_template(TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["USERS_TABLE"] == {"Ref": "UsersTable"}
    assert variables["POLL_QUEUE_ARN"] == {"Fn::GetAtt": ["PollQueue", "Arn"]}
    assert variables["STACK_LABEL"] == {"Fn::Sub": "${AWS::StackName}-label"}
    deadletter = template["Resources"]["PollQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    assert deadletter == {"Fn::GetAtt": ["PollDeadLetterQueue", "Arn"]}
    assert template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["FEATURE"] == {
        "Fn::If": ["IsProd", "a", "b"]}


def test_not_a_template_is_refused():
    with pytest.raises(ValueError):
        cfn.parse_template("just: text")


def test_function_environment_separates_literals_and_resource_bindings():
    literals, bindings = cfn.function_environment(cfn.parse_template(TEMPLATE))
    assert literals == {"TASK_TIMEOUT_SECONDS": "86400", "POLL_SHARDS": "4", "DEBUG_FLAG": "false"}
    assert {(b.variable, b.logical_id, b.attribute) for b in bindings} == {
        ("USERS_TABLE", "UsersTable", "Ref"), ("POLL_QUEUE_URL", "PollQueue", "Ref"),
        ("POLL_QUEUE_ARN", "PollQueue", "Arn"), ("REFUND_QUEUE_URL", "RefundQueue", "QueueUrl")}


@pytest.fixture
def clients(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")


def test_tables_and_queues_are_created_as_declared(clients):
    dynamodb, sqs = clients
    template = valid_template()
    resources = cfn.create_resources(template, dynamodb, sqs)

    assert resources.tables == {"UsersTable": "local-UsersTable"}
    table = dynamodb.describe_table(TableName="local-UsersTable")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_email"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="local-UsersTable")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires" and ttl["TimeToLiveStatus"] == "ENABLED"

    poll = resources.queues["PollQueue"]
    attrs = sqs.get_queue_attributes(QueueUrl=poll.url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "90"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == resources.queues["PollDeadLetterQueue"].arn
    assert int(redrive["maxReceiveCount"]) == 3
    assert (poll.dead_letter, poll.max_receive_count) == ("PollDeadLetterQueue", 3)
    assert resources.queues["RefundQueue"].dead_letter is None

    env = cfn.binding_environment(template, resources)
    assert env["USERS_TABLE"] == "local-UsersTable"
    assert env["POLL_QUEUE_URL"] == poll.url and env["POLL_QUEUE_ARN"] == poll.arn
    assert env["REFUND_QUEUE_URL"] == resources.queues["RefundQueue"].url
    assert env["POLL_SHARDS"] == "4"


def test_a_redrive_target_that_is_not_a_queue_reference_is_refused(clients):
    dynamodb, sqs = clients
    with pytest.raises(ValueError, match="RedrivePolicy"):
        cfn.create_resources(cfn.parse_template(TEMPLATE), dynamodb, sqs)


def test_stack_env_refuses_a_template_without_the_tables_the_code_needs(clients):
    dynamodb, sqs = clients
    template = valid_template()
    resources = cfn.create_resources(template, dynamodb, sqs)
    with pytest.raises(ValueError, match="CREDENTIALS_TABLE"):
        stack_env(moto_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2", template=template, resources=resources)


def test_fallback_template_has_every_table_and_queue_the_code_needs(clients):
    dynamodb, sqs = clients
    template = fallback_template()
    resources = cfn.create_resources(template, dynamodb, sqs)
    env = stack_env(moto_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2", template=template,
                    resources=resources)
    assert all(env[v].startswith("local-") for v in TABLE_ENV.values())
    assert all(env[v].startswith("http") for v in QUEUE_ENV.values())
    assert env["AWS_ENDPOINT_URL"] == env["DYNAMODB_ENDPOINT_URL"] == env["SQS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["POWERTOOLS_METRICS_DISABLED"] == "true" and env["PUBLIC_BASE_URL"] == "http://127.0.0.1:2"


def test_the_repository_template_builds_a_complete_stack(clients):
    from infra.local.stack import ROOT

    path = ROOT / "template.yaml"
    assert path.exists(), "template.yaml missing: run make template"
    dynamodb, sqs = clients
    template = cfn.load_template(path)
    resources = cfn.create_resources(template, dynamodb, sqs)
    env = stack_env(moto_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2", template=template,
                    resources=resources)
    assert all(env[v] for v in (*TABLE_ENV.values(), *QUEUE_ENV.values()))
    assert all(q.dead_letter for lid, q in resources.queues.items() if "dead" not in lid.lower()
               and "dlq" not in lid.lower())


def test_the_repository_template_kms_key_is_created_bound_and_usable(clients, monkeypatch):
    """The v1 script-secrets key (infra/template_kms.py) exists on the local stack, with its alias, and the
    functions' V1_SECRETS_KEY_ARN points at it: the code seals and opens a secret through it."""
    from taskcenter import script_secrets

    from infra.local.stack import ROOT

    dynamodb, sqs = clients
    kms = boto3.client("kms", region_name="us-east-1")
    template = cfn.load_template(ROOT / "template.yaml")
    resources = cfn.create_keys(template, kms, cfn.create_resources(template, dynamodb, sqs))
    env = stack_env(moto_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2", template=template,
                    resources=resources)
    arn = env[script_secrets.KEY_ENV]
    assert arn == resources.keys["V1SecretsKey"]["Arn"] and arn.startswith("arn:aws:kms:")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/local-V1SecretsKeyAlias"] == resources.keys["V1SecretsKey"]["KeyId"]
    fallback = fallback_template()
    assert "V1SecretsKey" in cfn.create_keys(fallback, kms, cfn.Resources({}, {})).keys

    monkeypatch.setenv(script_secrets.KEY_ENV, arn)
    script_secrets.clear_cache()
    sealed = script_secrets.Sealer(3).seal({"password": "pw"})
    assert script_secrets.open_config(sealed, 3) == {"password": "pw"}
