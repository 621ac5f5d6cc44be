"""Field coercion helpers: the one place that says how a field given by a client or an operator becomes a
value (docs/architecture.md, "Rules with one home"). Each raises BadInput naming the field, before anything
is written. Integers written as text follow domain/numbers.py (ASCII digits only).
"""

from __future__ import annotations

from typing import Any

from taskcenter.domain import numbers
from taskcenter.domain.errors import BadInput


def integer(value: Any, field: str, *, minimum: int | None = None) -> int:
    """A JSON integer, or a string of ASCII digits (console users type "2"); never a bool, never "٣"."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and numbers.is_ascii_int(value.strip()):
            value = int(value.strip())
        else:
            raise BadInput(f"{field} must be an integer", field=field)
    if abs(value) >= 10**numbers.MAX_DIGITS:  # as written in digits: a JSON 10**40 is no more a number we take
        raise BadInput(f"{field} must have at most {numbers.MAX_DIGITS} digits", field=field)
    if minimum is not None and value < minimum:
        raise BadInput(f"{field} must be >= {minimum}", field=field)
    return value


def text(value: Any, field: str, *, required: bool = False, limit: int) -> str:
    """A string, stripped, at most `limit` characters; None or "" is "" (refused when `required`)."""
    if value is None or value == "":
        if required:
            raise BadInput(f"{field} is required", field=field)
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{field} must be a string", field=field)
    value = value.strip()
    if required and not value:
        raise BadInput(f"{field} must not be blank", field=field)
    if len(value) > limit:
        raise BadInput(f"{field} is longer than {limit} characters", field=field)
    return value


def optional_text(value: Any, field: str, *, limit: int = 128) -> str | None:
    """A query-string filter: None when absent or blank, else the stripped text (at most `limit` characters)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise BadInput(f"{field} is too long", field=field)
    return value


def string_list(value: Any, field: str) -> list[str]:
    """A list of non-empty strings, duplicates dropped (first kept); None is []."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadInput(f"{field} must be a list of strings", field=field)
    return list(dict.fromkeys(value))
