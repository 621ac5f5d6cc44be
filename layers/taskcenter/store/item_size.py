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

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's maximum item size: 400 KB, names and values together


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


def require_fits(item: Any, what: str = "task") -> None:
    """TooLarge (413) when `item` would exceed DynamoDB's item limit: nothing is written."""
    size = model_size(item)
    if size > MAX_ITEM_BYTES:
        raise TooLarge(f"the {what} is too large to store ({size:,} bytes as stored; DynamoDB's item limit "
                       f"is {MAX_ITEM_BYTES:,}): send shorter text or smaller images")
