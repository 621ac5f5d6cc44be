"""Integers written by clients (query strings, headers, path segments, ids in bodies): ASCII digits only.

`str.isdigit()` is true for "²" (which `int()` refuses) and `int()` accepts "٣" or "１" (Unicode decimal
digits): neither is a number any of our clients writes, so both are refused here, with a length bound
before any conversion. docs/decisions.md ("Bad input") says what each surface answers.
"""

from __future__ import annotations

import re

from taskcenter.domain.errors import BadInput

# An optional minus and ASCII digits; `re.ASCII` is not needed for [0-9], but `\d` would take any script's.
_INTEGER = re.compile(r"-?[0-9]+")
MAX_DIGITS = 18  # below 2**63: every integer we take fits a DynamoDB number and a signed 64-bit field


def is_ascii_int(text: str, *, max_digits: int = MAX_DIGITS) -> bool:
    """True for an optional "-" followed by 1..max_digits ASCII digits, and nothing else (no spaces)."""
    return isinstance(text, str) and _INTEGER.fullmatch(text) is not None and len(text.lstrip("-")) <= max_digits


def ascii_int(text: str, *, name: str, minimum: int | None = None, maximum: int | None = None,
              max_digits: int = MAX_DIGITS) -> int:
    """`text` as an integer, or BadInput naming `name`: ASCII digits only (optional "-"), at most
    `max_digits` of them, within [minimum, maximum] when given. Callers strip what they tolerate first."""
    if not is_ascii_int(text, max_digits=max_digits):
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise BadInput(f"{name} must be an integer written with ASCII digits (at most {max_digits}), got {shown!r}",
                       field=name)
    value = int(text)
    if minimum is not None and value < minimum:
        raise BadInput(f"{name} must be at least {minimum}", field=name)
    if maximum is not None and value > maximum:
        raise BadInput(f"{name} must be at most {maximum}", field=name)
    return value


def strip_ascii(text: str) -> str:
    """Spaces, tabs and line breaks around a value, as a query string may carry; never Unicode spaces."""
    return text.strip(" \t\r\n")
