"""The local stack's snapshot of the moto server (infra/local/moto_state.py; docs/local-stack.md, "What survives
a restart"): what one moto dumps, another loads, and every value reads back as it was written."""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models.utilities import DynamoJsonEncoder

from infra.local import moto_state

REGION = "us-east-1"


def _resources() -> tuple[Any, Any, Any, Any, str]:
    ddb, sqs = boto3.client("dynamodb", region_name=REGION), boto3.client("sqs", region_name=REGION)
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    return (ddb, sqs, boto3.client("secretsmanager", region_name=REGION), boto3.client("kms", region_name=REGION),
            queue)


ITEM = {"pk": {"S": "user#1"}, "sk": {"N": "2"}, "quota": {"N": "49950000"}, "raw": {"B": b"\x00\xff"},
        "set": {"BS": [b"a", b"b"]}, "nested": {"M": {"l": {"L": [{"SS": ["x"]}, {"NULL": True}, {"BOOL": False}]}}}}


def test_a_dump_loads_into_a_fresh_server_with_every_value_intact() -> None:
    with mock_aws():
        ddb, sqs, sm, kms, queue = _resources()
        ddb.put_item(TableName="t", Item=ITEM)
        sqs.send_message(QueueUrl=queue, MessageBody="poll task_1",
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "poll"}})
        sqs.send_message(QueueUrl=queue, MessageBody="in flight")
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)  # invisible: kept too
        arn = sm.create_secret(Name="channel/1", SecretString="first")["ARN"]
        sm.put_secret_value(SecretId=arn, SecretString="current")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/task-secrets", TargetKeyId=key)
        blob = kms.encrypt(KeyId="alias/task-secrets", Plaintext=b"password")["CiphertextBlob"]
        document = json.loads(json.dumps(moto_state.dump(), cls=DynamoJsonEncoder))  # as the HTTP route sends it

    with mock_aws():  # a new, empty moto: the stack creates the template's resources, then loads
        ddb, sqs, sm, kms, queue = _resources()
        counts = moto_state.load(document)
        assert counts["items"] == 1 and counts["messages"] == 2 and counts["secrets"] == 1 and counts["keys"] == 1
        assert ddb.get_item(TableName="t", Key={"pk": ITEM["pk"], "sk": ITEM["sk"]})["Item"] == ITEM
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
        assert sorted(m["Body"] for m in got) == ["in flight", "poll task_1"]
        assert [m["MessageAttributes"] for m in got if m["Body"] == "poll task_1"] == [
            {"kind": {"DataType": "String", "StringValue": "poll"}}]
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == "current"  # by its old ARN
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"password"
        assert kms.describe_key(KeyId="alias/task-secrets")["KeyMetadata"]["KeyId"] == key


def test_what_the_template_no_longer_has_is_skipped_and_counted() -> None:
    with mock_aws():
        ddb, sqs, *_ = _resources()
        ddb.put_item(TableName="t", Item=ITEM)
        document = json.loads(json.dumps(moto_state.dump(), cls=DynamoJsonEncoder))
    with mock_aws():
        counts = moto_state.load(document)  # no table "t", no queue "q"
        assert counts["items"] == 0 and counts["tables_skipped"] == 1 and counts["queues_skipped"] == 1
