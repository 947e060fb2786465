"""openapi.yaml's grammar of the Scheduler-Reason header is the one the service reads: a value the document
allows is accepted, and a value it forbids is refused with 400 (schemathesis holds the API to the document,
both ways)."""

from __future__ import annotations

import re
import string
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from local_stack.template import PROJECT_ROOT
from scheduler_contract.reasons import REFUSED_CATEGORIES
from scheduler_service.errors import InvalidSchedulerUpdate
from scheduler_service.rules import parse_reason
from tests.infrastructure.reason_grammar import header_pattern

PATTERN = re.compile(
    yaml.safe_load((PROJECT_ROOT / "openapi.yaml").read_text())["components"]["parameters"]["SchedulerReason"][
        "schema"
    ]["pattern"]
)
PRINTABLE_BUT_PERCENT = "".join(char for char in map(chr, range(0x20, 0x7F)) if char != "%")


def accepted(value: str) -> bool:
    try:
        parse_reason(value, header=True)
    except InvalidSchedulerUpdate:
        return False
    return True


def allowed(text: str) -> bool:
    import unicodedata

    return all(unicodedata.category(char) not in REFUSED_CATEGORIES for char in text)


reasons = st.text(st.characters(codec="utf-8"), max_size=256).filter(allowed)


def test_the_documents_pattern_is_the_contracts_rule_spelled_in_percent_encoded_utf8() -> None:
    # To regenerate it: .venv/bin/python -c "from tests.infrastructure.reason_grammar import *; print(header_pattern())"
    assert PATTERN.pattern == header_pattern()


@pytest.mark.parametrize(
    ("text", "code_point"),
    [("\u202e", "U+202E"), ("\u200b", "U+200B"), ("\ufeff", "U+FEFF"), ("\u2028", "U+2028"), ("\u2029", "U+2029")],
    ids=["right-to-left-override", "zero-width-space", "byte-order-mark", "line-separator", "paragraph-separator"],
)
def test_format_characters_and_separators_are_refused_naming_their_code_point(text: str, code_point: str) -> None:
    encoded = quote("deploy " + text + " done", safe=PRINTABLE_BUT_PERCENT)

    assert not PATTERN.fullmatch(encoded)
    with pytest.raises(InvalidSchedulerUpdate, match=re.escape(code_point)):
        parse_reason(encoded, header=True)


@given(reasons)
def test_every_reason_encoded_as_the_docs_say_is_allowed_and_read_back(text: str) -> None:
    encoded = quote(text, safe=PRINTABLE_BUT_PERCENT)

    assert PATTERN.fullmatch(encoded)
    assert parse_reason(encoded, header=True) == text.strip(" \t")


@given(st.from_regex(PATTERN, fullmatch=True))
def test_every_value_the_document_allows_is_accepted(value: str) -> None:
    assert accepted(value)


# Values near the edges: percent signs and hex digits, bytes of every UTF-8 class, controls.
ENCODED_BYTES = [f"%{byte:02X}" for byte in range(256)] + [f"%{byte:02x}" for byte in range(0x80, 0x100)]
near_edges = st.lists(
    st.sampled_from(ENCODED_BYTES) | st.sampled_from(["%", "%4", "%G0", " ", "a", "\t", "\x7f", "é", "€"]),
    max_size=300,
).map("".join)


@given(near_edges | st.text(string.printable + "%é€\x85", max_size=300))
def test_the_service_accepts_exactly_what_the_document_allows(value: str) -> None:
    assert accepted(value) == bool(PATTERN.fullmatch(value))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("a" * 257, "257 characters long"),
        ("50%", "not percent-encoded"),
        ("caf\u00e9", "not percent-encoded"),
        ("caf%C3", "not percent-encoded"),
        ("one%0Atwo", "control character"),
        ("%C2%85", "control character"),
    ],
)
def test_a_value_the_document_forbids_is_refused_saying_why(value: str, says: str) -> None:
    with pytest.raises(InvalidSchedulerUpdate, match=says):
        parse_reason(value, header=True)
