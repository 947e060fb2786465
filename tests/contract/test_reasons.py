"""What a reason may hold, one rule for the service, the CLI and the console: 256 characters of one line of plain
text; a control, format or separator character is refused, naming its code point."""

from __future__ import annotations

import pytest

from scheduler_contract.reasons import MAX_REASON_LENGTH, reason_problem


@pytest.mark.parametrize(
    "text", ["", "deploy 2026.12.1: schema migration", "café ☕ 日本語 😀", "x" * MAX_REASON_LENGTH, "tab-free  spaces"]
)
def test_plain_text_of_up_to_256_characters_may_be_stored(text: str) -> None:
    assert reason_problem(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x" * 257, "is 257 characters long; at most 256 are allowed"),
        ("a\nb", "holds a control character, U+000A: one line of text, without tabs or newlines"),
        ("a\x85b", "holds a control character, U+0085: one line of text, without tabs or newlines"),
        ("a\ud800b", "holds a control character, U+D800: one line of text, without tabs or newlines"),
        (
            "pause\u202eesuap",
            "holds a format character, U+202E: plain text, without invisible or direction-changing characters",
        ),
        (
            "zero\u200bwidth",
            "holds a format character, U+200B: plain text, without invisible or direction-changing characters",
        ),
        ("line\u2028break", "holds a line separator, U+2028: one line of text"),
        ("para\u2029break", "holds a paragraph separator, U+2029: one line of text"),
    ],
    ids=[
        "too-long",
        "newline",
        "c1-control",
        "surrogate",
        "right-to-left-override",
        "zero-width",
        "line-sep",
        "para-sep",
    ],
)
def test_what_may_not_be_stored_is_named_with_its_code_point(text: str, problem: str) -> None:
    assert reason_problem(text) == problem


def test_the_first_refused_character_is_the_one_named() -> None:
    assert reason_problem("ok\u2028then\n") == "holds a line separator, U+2028: one line of text"
