"""Request bodies parsed as strict, bounded JSON (docs/decisions.md, "Bad input").

Python's `json.loads` accepts what no JSON client sends and what later code cannot take:
- `NaN`, `Infinity`, `-Infinity` (not JSON, RFC 8259 section 6), and `1e309`, which is read as infinity:
  forwarded upstream they make invalid JSON; refused here. So are finite numbers DynamoDB cannot store
  (`1e200`, `1e-200`: its numbers lie within 1E-130 and 1E+126), which the store would refuse mid-write.
- integers of any length (4,300 digits and more raise ValueError deep in the decoder): bounded by
  DynamoDB's number precision, 38 digits, so any integer a body carries can be stored as a number.
- nesting as deep as the interpreter's recursion limit (`[` x 100,000 raises RecursionError): bounded at
  MAX_DEPTH, far beyond any surface's real bodies (three levels), so no later code can recurse on it.
- a lone surrogate escape (`"\ud800"`, no low half after it): valid JSON text but no Unicode character, so
  no UTF-8 reply, upstream request or log line can carry it (UnicodeEncodeError wherever it goes next).
Every refusal is BadInput, which each surface answers with its own 400 envelope.
"""

from __future__ import annotations

import json
import math
from typing import Any

from taskcenter.domain.errors import BadInput

MAX_DEPTH = 32  # arrays/objects inside each other; every body of every surface uses at most 3
MAX_INT_DIGITS = 38  # DynamoDB numbers have up to 38 significant digits
# and a magnitude from 1E-130 to under 1E+126 (Amazon DynamoDB Developer Guide, "Data types", Number): a body's
# number is stored as it came, so one DynamoDB refuses (1e200) would fail the write after the checks
DYNAMODB_MIN_MAGNITUDE = 1e-130
DYNAMODB_MAX_MAGNITUDE = 1e126


def _constant(name: str) -> Any:
    raise BadInput(f"request body is not valid JSON: {name} is not a JSON number")


def storable_number(value: float) -> bool:
    """Whether DynamoDB can hold this finite float (0, or a magnitude within its range)."""
    return value == 0 or DYNAMODB_MIN_MAGNITUDE <= abs(value) < DYNAMODB_MAX_MAGNITUDE


def _float(text: str) -> float:
    value = _finite_float(text)
    if not storable_number(value):
        raise BadInput(f"request body is not valid JSON: the number {text[:40]} is out of range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput(f"request body is not valid JSON: the number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput(f"request body has an integer longer than {MAX_INT_DIGITS} digits")
    return int(text)


def depth_of(value: Any, limit: int = MAX_DEPTH, *, on_strings: Any = None) -> int:
    """How deeply arrays and objects nest in `value` (a scalar: 0), level by level without recursion,
    stopping once past `limit`; `on_strings`, if given, is called with each level's strings (keys too)."""
    depth, level = 0, [value]
    while True:
        if on_strings is not None:
            on_strings([node for node in level if isinstance(node, str)])
        containers = [node for node in level if isinstance(node, dict | list)]
        if not containers:
            return depth
        depth += 1
        if depth > limit:
            return depth
        level = []
        for node in containers:
            if isinstance(node, dict):
                level.extend(node)  # the keys: strings
                level.extend(node.values())
            else:
                level.extend(node)


def refuse_lone_surrogates(strings: list[str]) -> None:
    """BadInput if any of `strings` holds a lone surrogate (the module doc); `depth_of`'s `on_strings`."""
    for text in strings:
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise BadInput("request body is not valid JSON: a string holds a lone surrogate "
                               "(\\ud800-\\udfff without its pair)") from error


def loads(raw: bytes | str, *, storable_floats: bool = True) -> Any:
    """Strict JSON (see the module doc) from a request body; BadInput for anything else. `storable_floats`
    False (an upstream's reply: one odd number must not void the rest of it) lets finite floats DynamoDB
    cannot store through; what is kept of such a reply is made storable first (providers/relayable.py)."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_int=_int,
                           parse_float=_float if storable_floats else _finite_float)
    except RecursionError as error:
        raise BadInput(f"request body nests arrays or objects deeper than {MAX_DEPTH} levels") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput("request body is not valid JSON") from error
    if depth_of(value, on_strings=refuse_lone_surrogates) > MAX_DEPTH:
        raise BadInput(f"request body nests arrays or objects deeper than {MAX_DEPTH} levels")
    return value
