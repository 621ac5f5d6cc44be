"""Issue 12 item 13: DynamoDB's item size as DynamoDB counts it, and the guard at its real 400 KB limit."""

from __future__ import annotations

import pytest
from taskcenter.domain.errors import TooLarge
from taskcenter.store import item_size
from taskcenter.store.item_size import MAX_ITEM_BYTES
from taskcenter.store.item_size import item_size as size_of
from taskcenter.store.tasks import build_task


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"id": {"N": "123"}}, 2 + 3),  # name + (2 bytes for 3 significant digits) + 1
    ({"n": {"N": "1000"}}, 1 + 2),  # trailing zeroes trimmed
    ({"n": {"N": "-0.00120"}}, 1 + 2),  # leading zeroes, sign and point do not count
    ({"n": {"N": "-12.34E5"}}, 1 + 3),
    ({"a": {"S": "\u4e2d"}}, 1 + 3),  # UTF-8 bytes, not characters
    ({"\u00e9": {"S": ""}}, 2),  # the name is UTF-8 too
    ({"b": {"B": "AAAA"}}, 1 + 3),  # raw bytes, not the base64 text
    ({"b": {"B": b"\x00\x01"}}, 1 + 2),
    ({"t": {"BOOL": True}, "z": {"NULL": True}}, 2 + 2),
    ({"m": {"M": {}}}, 1 + 3),
    ({"m": {"M": {"k": {"S": "v"}}}}, 1 + 3 + (1 + 1 + 1)),  # 3 overhead, 1 per element, key as a name
    ({"l": {"L": [{"N": "1"}, {"BOOL": False}]}}, 1 + 3 + (1 + 2) + (1 + 1)),
    ({"s": {"SS": ["ab", "\u4e2d"]}}, 1 + 2 + 3),
    ({"s": {"NS": ["1", "22"]}}, 1 + 2 + 2),
])
def test_sizes_follow_dynamodbs_rules(attributes: dict, expected: int) -> None:
    assert size_of(attributes) == expected


def _task(padding: int) -> object:
    return build_task(task_id="task_" + "A" * 32, numeric_id=123456, kind="task", platform="suno", user_id=2,
                      action="MUSIC", quota=50_000, properties={"input": "x" * padding})


def test_the_guard_refuses_exactly_past_the_real_limit_less_the_room_for_updates(frozen_clock: object) -> None:
    """(A frozen clock: a timestamp with trailing zeroes is a byte shorter.)"""
    largest = MAX_ITEM_BYTES - item_size.UPDATE_ROOM_BYTES
    base = item_size.model_size(_task(0))
    fits = _task(largest - base)
    assert item_size.model_size(fits) == largest
    item_size.require_fits(fits)
    over = _task(largest - base + 1)
    with pytest.raises(TooLarge) as caught:
        item_size.require_fits(over)
    assert caught.value.http_status == 413 and f"{largest + 1:,} bytes" in caught.value.message


def test_a_projected_update_is_measured_like_the_item(frozen_clock: object) -> None:
    task = _task(10)
    assert item_size.projected_size(task, {}) == item_size.model_size(task)
    assert item_size.projected_size(task, {"data": {"k": "\u4e2d"}}) == item_size.model_size(task) + len(
        '{"k": "\\u4e2d"}') - len("{}")
    assert item_size.projected_size(task, {"extra": {"k": "v"}}) == item_size.model_size(task) + 1 + 1 + 1


def test_a_result_too_large_for_the_item_is_replaced_by_a_marker() -> None:
    task = _task(200_000)
    small = {"clips": ["x"] * 10}
    assert item_size.storable_result(task, small, {"image_url": "u"}) == (small, {"image_url": "u"})
    data, extra = item_size.storable_result(task, {"clips": ["x" * 250_000]}, {"image_url": "u"})
    assert set(data) == {"omitted"} and extra == {"image_url": "u"}
    data, extra = item_size.storable_result(task, None, {"prompt_en": "y" * 250_000})
    assert data is None and extra is None  # nothing to drop but the surface fields: they stay as they were


def test_json_escaping_is_what_counts(frozen_clock: object) -> None:
    """A JSON attribute stores CJK as \\uXXXX (6 bytes a character): 40,000 characters are 240,000 bytes."""
    assert item_size.model_size(_task(0)) + 240_000 == item_size.model_size(
        build_task(task_id="task_" + "A" * 32, numeric_id=123456, kind="task", platform="suno", user_id=2,
                   action="MUSIC", quota=50_000, properties={"input": "\u4e2d" * 40_000}))
