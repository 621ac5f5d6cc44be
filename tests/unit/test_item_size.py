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


def test_the_guard_refuses_exactly_past_the_real_limit() -> None:
    base = item_size.model_size(_task(0))
    fits = _task(MAX_ITEM_BYTES - base)
    assert item_size.model_size(fits) == MAX_ITEM_BYTES
    item_size.require_fits(fits)
    over = _task(MAX_ITEM_BYTES - base + 1)
    with pytest.raises(TooLarge) as caught:
        item_size.require_fits(over)
    assert caught.value.http_status == 413 and f"{MAX_ITEM_BYTES + 1:,} bytes" in caught.value.message


def test_json_escaping_is_what_counts() -> None:
    """A JSON attribute stores CJK as \\uXXXX (6 bytes a character): 40,000 characters are 240,000 bytes."""
    assert item_size.model_size(_task(0)) + 240_000 == item_size.model_size(
        build_task(task_id="task_" + "A" * 32, numeric_id=123456, kind="task", platform="suno", user_id=2,
                   action="MUSIC", quota=50_000, properties={"input": "\u4e2d" * 40_000}))
