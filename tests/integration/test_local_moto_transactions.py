"""The local stack's moto server rolls failed transactions back from item snapshots, not table copies.

infra/local/moto_main.py replaces moto's whole-table deep copy per transaction (which made the server's
CPU and memory grow with the table: the chaos run's defect 3). A failed transaction must still leave
nothing behind, and a successful one must write everything, exactly as before.
"""

from __future__ import annotations

from typing import Any

import boto3
import moto.dynamodb.models as dynamodb_models
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def patched_backend(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> Any:
    from infra.local import moto_main

    monkeypatch.setattr(dynamodb_models, "copy", moto_main._TablesByReference())
    monkeypatch.setattr(dynamodb_models.DynamoDBBackend, "transact_write_items",
                        moto_main.transact_with_item_snapshots(dynamodb_models.DynamoDBBackend.transact_write_items))
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    return client


def _items(client: Any) -> dict[str, str]:
    return {i["k"]["S"]: i.get("v", {}).get("S", "") for i in client.scan(TableName="t")["Items"]}


def test_a_failed_transaction_leaves_nothing_and_a_good_one_writes_everything(patched_backend: Any) -> None:
    client = patched_backend
    client.put_item(TableName="t", Item={"k": {"S": "a"}, "v": {"S": "old"}})
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"k": {"S": "new"}, "v": {"S": "x"}}}},
            {"Update": {"TableName": "t", "Key": {"k": {"S": "a"}}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "changed"}}}},
            {"Put": {"TableName": "t", "Item": {"k": {"S": "a2"}}, "ConditionExpression": "attribute_exists(k)"}},
        ])
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(client) == {"a": "old"}  # the put and the update before the failing item were undone

    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {"k": {"S": "b"}, "v": {"S": "y"}}}},
        {"Delete": {"TableName": "t", "Key": {"k": {"S": "a"}}, "ConditionExpression": "attribute_exists(k)"}},
    ])
    assert _items(client) == {"b": "y"}
    backend = dynamodb_models.dynamodb_backends["123456789012"]["us-east-1"]
    table = backend.tables["t"]
    client.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"k": {"S": "c"}}}}])
    assert backend.tables["t"] is table  # no table copy was made


def test_the_local_stack_refuses_transactions_past_dynamodbs_limits_and_writes_nothing(patched_backend: Any) -> None:
    client = patched_backend
    too_many = [{"Put": {"TableName": "t", "Item": {"k": {"S": f"n{i}"}}}} for i in range(101)]
    too_big = [{"Put": {"TableName": "t", "Item": {"k": {"S": f"b{i}"}, "v": {"S": "x" * 350_000}}}}
               for i in range(13)]
    for items in (too_many, too_big):
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=items)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert _items(client) == {}
    client.transact_write_items(TransactItems=too_many[:100])  # exactly at the limit: written
    assert len(_items(client)) == 100
