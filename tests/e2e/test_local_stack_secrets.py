"""The local stack keeps channel secrets where AWS would: moto's Secrets Manager, the table holding only the
reference (docs/local-stack.md, docs/admin.md "Channel secrets")."""

from __future__ import annotations

import json

import boto3
import pytest

pytestmark = pytest.mark.e2e


def test_seeded_channels_keep_their_secrets_in_secrets_manager(local_stack):
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=local_stack.moto_url)
    secrets = session.client("secretsmanager", endpoint_url=local_stack.moto_url)
    assert local_stack.channels, "the stack seeds a channel per simulator"
    for channel in local_stack.channels:
        item = dynamodb.get_item(TableName=local_stack.env["CHANNELS_TABLE"], Key={"id": {"N": str(channel["id"])}},
                                 ConsistentRead=True)["Item"]
        ref = f"taskcenter/local/channel/{channel['id']}"
        assert item["secret_ref"] == {"S": ref} and "secret" not in item
        value = secrets.get_secret_value(SecretId=ref)["SecretString"]  # each simulator's own key form
        assert value and value not in json.dumps(item) and value not in json.dumps(channel)
        if channel.get("type") in ("suno", "midjourney"):
            assert value == "sim-secret"
