"""domain/fields.py, the one home of field coercion (docs/architecture.md, "Rules")."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import fields
from taskcenter.domain.errors import BadInput


@pytest.mark.parametrize(("value", "expected"), [(2, 2), ("2", 2), (" 7 ", 7), ("-3", -3), (0, 0)])
def test_integer_takes_json_integers_and_ascii_digit_strings(value: Any, expected: int) -> None:
    assert fields.integer(value, "n") == expected


@pytest.mark.parametrize("value", [True, False, 1.5, "٣", "１", "²", "", "1e3", None, [], "9" * 19])
def test_integer_refuses_the_rest_naming_the_field(value: Any) -> None:
    with pytest.raises(BadInput) as refused:
        fields.integer(value, "user_id")
    assert refused.value.field == "user_id"


def test_integer_minimum() -> None:
    assert fields.integer(5, "n", minimum=5) == 5
    with pytest.raises(BadInput, match=">= 5"):
        fields.integer("4", "n", minimum=5)


def test_text() -> None:
    assert fields.text("  a prompt ", "prompt", limit=20) == "a prompt"
    assert fields.text(None, "prompt", limit=5) == "" and fields.text("", "prompt", limit=5) == ""
    for value, kwargs in ((None, {"required": True}), ("   ", {"required": True}), (5, {}), ("x" * 6, {})):
        with pytest.raises(BadInput) as refused:
            fields.text(value, "prompt", limit=5, **kwargs)
        assert refused.value.field == "prompt"


def test_optional_text() -> None:
    assert fields.optional_text(None, "status") is None and fields.optional_text("  ", "status") is None
    assert fields.optional_text(" SUCCESS ", "status") == "SUCCESS"
    with pytest.raises(BadInput):
        fields.optional_text("x" * 129, "status")


def test_string_list() -> None:
    assert fields.string_list(None, "models") == []
    assert fields.string_list(["a", "b", "a"], "models") == ["a", "b"]
    for value in ("a", ["a", ""], ["a", 1], {"a": 1}):
        with pytest.raises(BadInput) as refused:
            fields.string_list(value, "models")
        assert refused.value.field == "models"
