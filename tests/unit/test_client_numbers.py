"""Issue 12 item 11: the one parser for integers written by clients (ASCII digits only)."""

from __future__ import annotations

import pytest
from taskcenter.domain import numbers
from taskcenter.domain.errors import BadInput

from tests.integration.hostile_support import UNICODE_DIGITS


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "1_000",
                                  "\u0000", "1" * 19, "-" + "1" * 19])
def test_anything_but_ascii_digits_is_refused(text: str) -> None:
    assert not numbers.is_ascii_int(text)
    with pytest.raises(BadInput) as caught:
        numbers.ascii_int(text, name="p")
    assert caught.value.field == "p" and "ASCII" in caught.value.message


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("-3", -3), ("007", 7), ("1" * 18, int("1" * 18))])
def test_ascii_integers_are_read(text: str, value: int) -> None:
    assert numbers.is_ascii_int(text)
    assert numbers.ascii_int(text, name="p") == value


def test_bounds_and_digit_limit() -> None:
    assert numbers.ascii_int("4", name="i", minimum=1, maximum=4) == 4
    for text in ("0", "5"):
        with pytest.raises(BadInput):
            numbers.ascii_int(text, name="i", minimum=1, maximum=4)
    assert not numbers.is_ascii_int("12", max_digits=1)


def test_not_a_string_is_refused() -> None:
    assert not numbers.is_ascii_int(12)  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        numbers.ascii_int(None, name="p")  # type: ignore[arg-type]


def test_only_ascii_whitespace_is_stripped() -> None:
    assert numbers.strip_ascii(" \t7\r\n") == "7"
    assert numbers.strip_ascii("\u30007\u00a0") == "\u30007\u00a0"
