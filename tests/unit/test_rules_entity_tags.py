"""The rules on their own: entity tags and the If-Match limits (no I/O)."""

from __future__ import annotations

import pytest

from rules import MAX_IF_MATCH_VERSIONS, etag_for, parse_if_match, parse_preconditions, read_outcome


def test_an_etag_is_the_quoted_version() -> None:
    assert etag_for(0) == '"0"'
    assert etag_for(42) == '"42"'


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ('"12', ()),  # unterminated
        ('12"', ()),
        ('"0"', (0,)),
        ('"00"', ()),
        ('"3", W/"4", "5"', (3, 5)),
        ("  *  ", None),
        ('"' + "9" * 18 + '"', (int("9" * 18),)),
        ('"' + "9" * 19 + '"', ()),
    ],
)
def test_if_match_names_the_versions_of_its_strong_tags(header: str, versions: tuple[int, ...] | None) -> None:
    assert parse_if_match(header) == versions


def test_if_match_keeps_exactly_the_hundred_newest_versions() -> None:
    """DynamoDB's IN takes at most 100 operands; a 101st would be a 500 on AWS (moto does not enforce it)."""
    assert MAX_IF_MATCH_VERSIONS == 100
    hundred_and_one = ", ".join(f'"{version}"' for version in range(1, 102))

    kept = parse_if_match(hundred_and_one)

    assert kept == tuple(range(2, 102))
    assert parse_if_match(", ".join(f'"{version}"' for version in range(1, 101))) == tuple(range(1, 101))


@pytest.mark.parametrize(
    ("header", "hits"), [('W/"7"', True), ('"7"', True), ('"70"', False), ('"7', False), ("*", True)]
)
def test_if_none_match_compares_weakly(header: str, hits: bool) -> None:
    assert read_outcome(parse_preconditions(if_none_match=header), 7, None) == (304 if hits else 200)
