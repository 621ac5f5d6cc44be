"""DynamoDB's item size, computed as DynamoDB counts it, so an oversized write is refused as bad input
(a 413 in the caller's envelope) instead of failing inside a transaction (a 500).

The rules (Amazon DynamoDB Developer Guide, "DynamoDB item sizes and formats"): an item's size is the sum
over its attributes of the attribute name's UTF-8 length plus the value's size. String: its UTF-8 length.
Number: 1 byte per two significant digits, plus 1 (leading and trailing zeroes trimmed). Binary: the raw
bytes. Null and Boolean: 1. List and Map: 3 bytes plus, per element, 1 byte plus the element's size (a map
element's key counts as a name). Sets: the sum of their elements. docs/decisions.md, "Bad input".
"""

from __future__ import annotations

import base64
from typing import Any

from taskcenter.domain.errors import TooLarge
from taskcenter.observability import logger, metrics

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's maximum item size: 400 KB, names and values together
# Kept free for what a task's life writes besides the upstream's result (status, times, index keys,
# progress, refund marks, a fail reason of up to 1,000 characters at up to 4 bytes each): a task that fits
# at creation can always be moved, failed and refunded.
UPDATE_ROOM_BYTES = 8 * 1024


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))  # the wire form is base64 text; the raw length counts


def value_size(value: dict[str, Any]) -> int:
    """Size of one attribute value in DynamoDB's wire form ({"S": ...}, {"N": ...}, {"M": {...}}, ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in inner)
    if kind == "NS":
        return sum(_number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary_size(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(attributes: dict[str, dict[str, Any]]) -> int:
    """Size of an item given as DynamoDB attributes ({name: {"S": ...}, ...})."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in attributes.items())


def model_size(item: Any) -> int:
    """Size of a PynamoDB model instance as it would be written (its serialized attributes)."""
    return item_size(item.serialize())


def projected_size(item: Any, changes: dict[str, Any]) -> int:
    """Size of `item` once the attributes in `changes` (attribute -> new value, None: removed) are set."""
    attributes = item.serialize()
    fields = type(item).get_attributes()
    for name, value in changes.items():
        attr = fields[name]
        if value is None:
            attributes.pop(attr.attr_name, None)
        else:
            attributes[attr.attr_name] = {attr.attr_type: attr.serialize(value)}
    return item_size(attributes)


def fits(size: int) -> bool:
    """Whether an item of `size` bytes leaves the room its later updates need under DynamoDB's limit."""
    return size + UPDATE_ROOM_BYTES <= MAX_ITEM_BYTES


def require_fits(item: Any, what: str = "task", changes: dict[str, Any] | None = None) -> None:
    """TooLarge (413) when `item` (with `changes` set, if given) would not fit DynamoDB's item limit with room
    for its updates."""
    size = model_size(item) if changes is None else projected_size(item, changes)
    if not fits(size):
        raise TooLarge(f"the {what} is too large to store ({size:,} bytes as stored; DynamoDB's item limit "
                       f"is {MAX_ITEM_BYTES:,}, {UPDATE_ROOM_BYTES:,} of them kept for its updates): send "
                       f"shorter text or smaller images")


def storable_result(task: Any, data: Any, extra: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
    """A new upstream result (`data`) and surface fields (`extra`) for `task`, as far as its item can hold
    them (None: unchanged). Past the limit the raw result is replaced by a marker, then the surface fields
    are left as they were: the status still moves and the money follows (docs/engine.md)."""
    changes = {name: value for name, value in (("data", data), ("extra", extra)) if value is not None}
    if not changes:
        return data, extra
    size = projected_size(task, changes)
    if fits(size):
        return data, extra
    logger.warning("upstream result too large for the task item: left out", extra={"task_id": task.task_id,
                                                                                   "bytes": size})
    metrics.add_metric(name="ResultsOmitted", unit="Count", value=1)
    if data is not None:
        data = {"omitted": f"the upstream's result is too large to store ({size:,} bytes as stored)"}
        if fits(projected_size(task, {**changes, "data": data})):
            return data, extra
    return data, None
