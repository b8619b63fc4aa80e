"""digest.text: the characters one-line text may not hold, named the same way everywhere."""

from __future__ import annotations

import json

import pytest

from digest.text import UNSAFE, describe, one_line, recorded, unsafe_character, unstorable


@pytest.mark.parametrize(("char", "words"), [
    ("\n", "a line break (U+000A)"), ("\r", "a carriage return (U+000D)"),
    ("\t", "a tab (U+0009)"), ("\x00", "a control character (U+0000)"),
    ("\x7f", "a control character (U+007F)"), ("\x9b", "a control character (U+009B)"),
    ("\u2028", "a line separator (U+2028)"), ("\u202e", "a bidirectional control (U+202E)"),
    ("\u2066", "a bidirectional control (U+2066)"), ("\u061c", "a bidirectional control (U+061C)"),
    ("\u200f", "a bidirectional control (U+200F)"), ("\ud800", "a lone surrogate (U+D800)"),
    ("\udfff", "a lone surrogate (U+DFFF)"),
])
def test_each_class_is_found_and_named(char: str, words: str) -> None:
    assert describe(char) == words
    assert unsafe_character(f"ab{char}c") == f"contains {words}"
    assert unsafe_character(f"ab{char}c", where=True) == f"contains {words} at character 3"


@pytest.mark.parametrize("text", ["Siân ap Gwŷn", "Ŵyr", "O'Brien-Jones", "李雷", "😀",
                                  "زينب", "\u200d", "a\u00a0b", ""])
def test_letters_of_any_script_and_joiners_are_allowed(text: str) -> None:
    assert unsafe_character(text) is None and one_line(text) == text


def test_one_line_spaces_breaks_and_drops_hidden_characters() -> None:
    assert one_line("Nia\r\nJones\x00!") == "Nia  Jones !"
    assert one_line("\u202eSiân\u202c \u2066Jones\u2069\ud800") == "Siân Jones"
    assert UNSAFE.search(one_line("".join(map(chr, range(0x3000))) + "\ud800")) is None


def test_unstorable_looks_everywhere_without_recursion() -> None:
    fine = '{"a": ["\\ud83d\\ude00", 1, null, 2.5, true, "\\u0001"]}'
    assert unstorable(json.loads(fine)) is None  # a pair is a character; U+0001 is storable
    assert unstorable(json.loads('{"a": [{"b": "\\ud83d"}]}')) == "\ud83d"
    assert unstorable(json.loads('{"\\udc00": 1}')) == "\udc00"  # a key counts too
    nested: object = "\ud800"
    for _ in range(100_000):  # deeper than Python's recursion limit
        nested = [nested]
    assert unstorable(nested) == "\ud800"


@pytest.mark.parametrize("body", [
    '"\\u0000"', '"a\\u0000b"', '{"\\u0000": 1}', '{"k\\u0000": "v"}',
    '{"a": {"b": ["x", "\\u0000"]}}',
    '[[[[{"deep": [1, 2, {"x": "ok\\u0000"}]}]]]]', '{"a": 1, "b": "\\u0000\\u0000"}',
])
def test_unstorable_finds_a_nul_in_any_string_or_key(body: str) -> None:
    assert unstorable(json.loads(body)) == "\x00"


@pytest.mark.parametrize(("value", "problem"), [
    ("", "must not be empty"), (" \t ", "must not be empty"),
    ("a\nb", "contains a line break (U+000A) at character 2"),
    ("Siân \u202e", "contains a bidirectional control (U+202E) at character 6"),
    ("x" * 11, "is 11 characters; at most 10"),
])
def test_recorded_refuses_blank_long_and_unsafe_text(value: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        recorded(value, 10)
    assert str(refused.value) == problem


def test_recorded_trims_and_keeps_the_limit_and_any_script() -> None:
    assert recorded("  Siân ap Gwŷn ", 12) == "Siân ap Gwŷn"
    assert recorded("李雷\u200d😀", 4) == "李雷\u200d😀"  # code points, not bytes
