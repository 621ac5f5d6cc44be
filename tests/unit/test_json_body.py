"""Issue 12 items 12 and 14: request bodies are strict, bounded JSON."""

from __future__ import annotations

import json

import pytest
from taskcenter.domain import json_body
from taskcenter.domain.errors import BadInput


def _refused(raw: bytes | str) -> str:
    with pytest.raises(BadInput) as caught:
        json_body.loads(raw)
    return caught.value.message


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 1_000 + b"]" * 1_000,
                                 ("[" * (json_body.MAX_DEPTH + 1) + "]" * (json_body.MAX_DEPTH + 1)).encode(),
                                 b'{"a": [{"b": ' + b"[" * 40 + b"]" * 40 + b"}]}"])
def test_nesting_past_the_limit_is_refused(raw: bytes) -> None:
    assert "deeper than" in _refused(raw)


def test_nesting_at_the_limit_is_read() -> None:
    depth = json_body.MAX_DEPTH
    assert json_body.depth_of(json_body.loads("[" * depth + "]" * depth)) == depth
    assert json_body.loads('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 40}  # text, not nesting


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1E400", "123e999"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    assert "JSON" in _refused(f'{{"continue_at": {literal}}}')


@pytest.mark.parametrize("digits", [39, 400, 4_300, 5_000])
def test_integers_past_38_digits_are_refused(digits: int) -> None:
    assert "38 digits" in _refused(f'{{"n": {"7" * digits}}}')
    assert "38 digits" in _refused(f'{{"n": -{"7" * digits}}}')


def test_ordinary_json_is_read_as_before() -> None:
    text = json.dumps({"a": [1, -2, 3.5, 9.9e125, 1e-130, 0.0, "x", None, True], "b": {"c": "中文 😀"},
                       "n": int("9" * 38)},
                      ensure_ascii=False)
    assert json_body.loads(text.encode()) == json.loads(text)
    assert json_body.loads(text.encode("utf-16")) == json.loads(text)  # json's encoding detection is kept


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe\x00", b"{'a': 1}", b"nul", b"[1,", b'{"a": 01}'])
def test_malformed_json_is_refused(raw: bytes) -> None:
    assert "not valid JSON" in _refused(raw)


def test_depth_of_counts_levels_without_recursion() -> None:
    assert [json_body.depth_of(v) for v in (1, "x", [], {}, [[]], {"a": [1, {"b": []}]})] == [0, 0, 1, 1, 2, 4]
    deep: list = []
    for _ in range(50_000):  # built by hand: deeper than the interpreter's recursion limit
        deep = [deep]
    assert json_body.depth_of(deep) == json_body.MAX_DEPTH + 1  # stops counting once past the limit


@pytest.mark.parametrize("text", ['{"a": "x\\ud800"}', '{"\\udc00": 1}', '[["ok", "\\udbff"]]', '"\\ud800\\ud800"'])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="surrogate"):
        json_body.loads(text)


def test_a_surrogate_pair_is_the_character_it_encodes() -> None:
    assert json_body.loads('{"a": "\\ud83d\\ude00 \\u4e2d"}') == {"a": "\U0001f600 \u4e2d"}


@pytest.mark.parametrize("number", ["1e126", "-1e200", "1e308", "1e-131", "-2.5e-300"])
def test_a_body_number_dynamodb_cannot_store_is_refused_but_an_upstream_reply_may_carry_it(number: str) -> None:
    """DynamoDB's numbers lie within 1E-130 and 1E+126: a body's number is stored as it came, so one outside
    would fail the write after every check (found by hostile testing, 4 Dec 2026). An upstream's reply is read
    with it (providers/relayable.py makes what is kept of it storable)."""
    assert "out of range" in _refused(f'{{"n": {number}}}')
    assert json_body.loads(f'{{"n": {number}}}', storable_floats=False) == {"n": float(number)}
