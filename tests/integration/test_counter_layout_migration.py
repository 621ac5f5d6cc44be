"""The listing counters' move to one item per scope (store/maintenance.merge_listing_counters, docs/deploy.md):
counters kept one item per scope and status, as before, end up in their scope's item with their values, change
counts and the highest shard mark, and a second run changes nothing."""

from __future__ import annotations

from typing import Any

from taskcenter.domain import listing_plan as listing
from taskcenter.store import counters, maintenance
from taskcenter.store.db import aws_client
from taskcenter.store.models import Counter

USER = "u#7#task"


def _old(name: str, value: int, changes: int, **marks: str) -> None:
    item = {"name": {"S": name}, "value": {"N": str(value)}, "changes": {"N": str(changes)},
            **{f"hw_{shard}": {"S": seq} for shard, seq in marks.items()}}
    aws_client("dynamodb").put_item(TableName=Counter.Meta.table_name, Item=item)


def test_old_counters_move_into_their_scope_items_once(aws: Any) -> None:
    all_name = listing.counter_name("lu", USER, "ALL", 0)
    done = listing.counter_name("lu", USER, "SUCCESS", 0)
    admin = listing.counter_name("lg", "g#task", "SUCCESS", 0)
    hour = listing.bucket_counter_name("lu", USER, 480_000, 0)
    _old(all_name, 5, 9, shardA="0000000000000000000300")
    _old(done, 3, 3, shardA="0000000000000000000200", shardB="0000000000000000000050")
    _old(admin, 40, 41)
    _old(hour, 2, 2)  # hour buckets keep their own items
    aws_client("dynamodb").put_item(TableName=Counter.Meta.table_name,  # counted by the new layout already
                                    Item={"name": {"S": "ns#u#7#task"}, "v_ALL": {"N": "1"}, "c_ALL": {"N": "1"}})

    assert maintenance.merge_listing_counters() == 3
    read = counters.read_many([all_name, done, admin, hour])
    assert (read[all_name].total, read[all_name].changes) == (6, 10)
    assert (read[done].total, read[done].changes) == (3, 3)
    assert read[admin].total == 40 and read[hour].total == 2
    scope_item = aws_client("dynamodb").get_item(TableName=Counter.Meta.table_name,
                                                 Key={"name": {"S": "ns#u#7#task"}})["Item"]
    assert scope_item["hw_shardA"]["S"] == "0000000000000000000300"  # the highest mark of the scope's old items
    assert scope_item["hw_shardB"]["S"] == "0000000000000000000050"
    for gone in (all_name, done, admin):
        assert "Item" not in aws_client("dynamodb").get_item(TableName=Counter.Meta.table_name,
                                                             Key={"name": {"S": gone}})

    assert maintenance.merge_listing_counters() == 0
    assert counters.read_many([all_name])[all_name].total == 6
