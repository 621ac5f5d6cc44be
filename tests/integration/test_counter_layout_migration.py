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


def test_a_users_platform_scope_items_move_into_the_users_item_once(aws: Any) -> None:
    """Before a user's platform scopes were kept in the user scope's item they had items of their own
    (`ns#u#7#task#p#suno`): the move adds their fields to the user's item with the highest shard mark of both,
    deletes them, and leaves every other scope's item alone."""
    table = Counter.Meta.table_name
    put = aws_client("dynamodb").put_item
    put(TableName=table, Item={"name": {"S": "ns#u#7#task"}, "v_ALL": {"N": "7"}, "c_ALL": {"N": "9"},
                               "v_SUCCESS": {"N": "4"}, "c_SUCCESS": {"N": "4"}, "hw_shardA": {"S": "0300"}})
    put(TableName=table, Item={"name": {"S": "ns#u#7#task#p#suno"}, "v_ALL": {"N": "5"}, "c_ALL": {"N": "6"},
                               "v_SUCCESS": {"N": "3"}, "c_SUCCESS": {"N": "3"},
                               "hw_shardA": {"S": "0400"}, "hw_shardB": {"S": "0050"}})
    put(TableName=table, Item={"name": {"S": "ns#u#7#task#p#tikmatrix"}, "v_ALL": {"N": "2"}, "c_ALL": {"N": "2"}})
    put(TableName=table, Item={"name": {"S": "ns#u#7#task#a#MUSIC"}, "v_ALL": {"N": "5"}, "c_ALL": {"N": "5"}})
    put(TableName=table, Item={"name": {"S": "ns#g#task#p#suno#s0"}, "v_ALL": {"N": "50"}, "c_ALL": {"N": "50"}})
    _old(f"n#{USER}#p#suno#FAILURE", 1, 2)  # the oldest layout, one item per scope and status: moved there too
    suno_all = listing.counter_name("lup", f"{USER}#p#suno", "ALL", 0)
    suno_done = listing.counter_name("lup", f"{USER}#p#suno", "SUCCESS", 0)
    device_all = listing.counter_name("lup", f"{USER}#p#tikmatrix", "ALL", 0)
    user_all = listing.counter_name("lu", USER, "ALL", 0)
    music = listing.counter_name("lua", f"{USER}#a#MUSIC", "ALL", 0)
    admin = listing.counter_name("lgp", "g#task#p#suno", "ALL", 0)
    assert counters.read_many([suno_all]) == {}  # the new layout reads the user's item: not there yet

    assert maintenance.merge_listing_counters() == 3
    suno_failed = f"n#{USER}#p#suno#FAILURE"
    read = counters.read_many([suno_all, suno_done, device_all, user_all, music, admin, suno_failed])
    assert (read[suno_failed].total, read[suno_failed].changes) == (1, 2)
    assert (read[suno_all].total, read[suno_all].changes) == (5, 6)
    assert (read[suno_done].total, read[device_all].total) == (3, 2)
    assert (read[user_all].total, read[user_all].changes) == (7, 9)  # the user's own counters untouched
    assert read[music].total == 5 and read[admin].total == 50  # other scopes keep their items
    user_item = aws_client("dynamodb").get_item(TableName=table, Key={"name": {"S": "ns#u#7#task"}})["Item"]
    assert user_item["hw_shardA"]["S"] == "0400" and user_item["hw_shardB"]["S"] == "0050"
    for gone in ("ns#u#7#task#p#suno", "ns#u#7#task#p#tikmatrix", suno_failed):
        assert "Item" not in aws_client("dynamodb").get_item(TableName=table, Key={"name": {"S": gone}})

    assert maintenance.merge_listing_counters() == 0
    assert counters.read_many([suno_all])[suno_all].total == 5
