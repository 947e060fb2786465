"""Entity tags, as the contract writes them (docs/protocol.md, Entity tags): each names one state of the switch
exactly, and only text of the grammar names one."""

from __future__ import annotations

import pytest

from scheduler_contract.tags import MAX_OPAQUE_LENGTH, Tag, opaque_of, parse_etag, parse_opaque

PAUSED_8 = Tag(version=8, is_paused=True, incarnation="mk3x0a9z7q2c")


def test_a_tag_is_the_version_the_value_and_the_incarnation_quoted() -> None:
    assert str(PAUSED_8) == '"8.p.mk3x0a9z7q2c"'
    assert str(Tag(version=8, is_paused=False, incarnation="mk3x0a9z7q2c")) == '"8.r.mk3x0a9z7q2c"'
    assert str(Tag(version=0, is_paused=True)) == '"0.p"'  # restored by hand: no incarnation


def test_tags_of_another_value_version_or_incarnation_differ() -> None:
    others = {
        Tag(version=8, is_paused=False, incarnation="mk3x0a9z7q2c"),  # edited by hand, version left alone
        Tag(version=9, is_paused=True, incarnation="mk3x0a9z7q2c"),
        Tag(version=8, is_paused=True, incarnation="mk4000000000"),  # a re-created entry's eighth version
        Tag(version=8, is_paused=True),
    }

    assert PAUSED_8 not in others
    assert len({str(tag) for tag in others | {PAUSED_8}}) == 5


@pytest.mark.parametrize(
    ("opaque", "tag"),
    [
        ("8.p.mk3x0a9z7q2c", PAUSED_8),
        ("0.r", Tag(version=0, is_paused=False)),
        ("8", None),  # an old-style tag names nothing served now
        ("8.x.mk3x0a9z7q2c", None),
        ("08.p.mk3x0a9z7q2c", None),
        ("8.p.MK3X", None),
        ("8.p.mk3x.extra", None),
        ("8.p.", None),
        ("-1.p", None),
        ("9" * 18 + ".p", Tag(version=int("9" * 18), is_paused=True)),
        ("9" * 19 + ".p", None),
        ("8.p." + "a" * 32, Tag(version=8, is_paused=True, incarnation="a" * 32)),
        ("8.p." + "a" * 33, None),
    ],
    ids=[
        "current",
        "by-hand",
        "old-style",
        "bad-state",
        "leading-zero",
        "upper-case",
        "four-parts",
        "empty-incarnation",
        "negative",
        "longest-version",
        "version-too-long",
        "longest-incarnation",
        "incarnation-too-long",
    ],
)
def test_only_tags_this_service_could_have_made_name_a_representation(opaque: str, tag: Tag | None) -> None:
    assert parse_opaque(opaque) == tag


def test_text_longer_than_any_tag_is_refused_before_it_is_split() -> None:
    longest = "9" * 18 + ".p." + "a" * 32

    assert len(longest) == MAX_OPAQUE_LENGTH
    assert parse_opaque(longest) == Tag(version=int("9" * 18), is_paused=True, incarnation="a" * 32)
    assert parse_opaque("." * (MAX_OPAQUE_LENGTH + 1)) is None
    assert parse_opaque("8.p." + "." * 1_000_000) is None


@pytest.mark.parametrize(
    ("etag", "tag"),
    [
        ('"8.p.mk3x0a9z7q2c"', PAUSED_8),
        ('W/"8.p.mk3x0a9z7q2c"', None),  # a weak tag names no state exactly
        ("8.p.mk3x0a9z7q2c", None),  # unquoted
        ('"8.p.mk3x0a9z7q2c', None),
        ('"', None),
        ("", None),
        (None, None),
    ],
    ids=["strong", "weak", "unquoted", "one-quote", "a-quote", "empty", "none"],
)
def test_a_strong_quoted_tag_is_the_only_etag_that_names_a_state(etag: str | None, tag: Tag | None) -> None:
    assert parse_etag(etag) == tag


def test_the_opaque_part_is_read_from_weak_and_strong_tags_alike() -> None:
    assert opaque_of('W/"7.p"') == opaque_of(' "7.p" ') == "7.p"
    assert opaque_of("7.p") is None
    assert opaque_of('"') is None
    assert opaque_of(None) is None
