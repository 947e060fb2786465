"""The validators on their own (no I/O): entity tags that name one representation exactly, the conditional
headers as RFC 9110 counts them, and Last-Modified dates that never let a later write look unmodified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler_contract.tags import Tag
from scheduler_service.validators import (
    MAX_TAGS,
    MAX_TIME_LENGTH,
    format_http_date,
    http_date_of,
    iso_time,
    last_modified,
    parse_if_match,
    parse_preconditions,
    read_outcome,
)

PAUSED_8 = Tag(version=8, is_paused=True, incarnation="mk3x0a9z7q2c")


def test_if_match_takes_strong_tags_only_and_star_means_any() -> None:
    assert parse_if_match('"8.p.mk3x0a9z7q2c", W/"9.p.mk3x0a9z7q2c", "7", junk') == (PAUSED_8,)
    assert parse_if_match("  *  ") is None
    assert parse_if_match('"7"') == ()  # names nothing: the write fails without a round trip
    assert parse_preconditions(if_match='"7"').unsatisfiable


def test_a_long_tag_list_keeps_the_newest_tags() -> None:
    tags = [Tag(version=version, is_paused=True, incarnation="mk3x0a9z7q2c") for version in range(1, MAX_TAGS + 6)]

    kept = parse_if_match(", ".join(str(tag) for tag in tags))

    assert MAX_TAGS == 16
    assert kept == tuple(tags[-MAX_TAGS:])


def test_the_newest_tags_are_those_of_the_latest_incarnation_whatever_their_versions() -> None:
    """A restored entry's tags (a later incarnation, low versions) outrank the old entry's high versions."""
    old_entry = [Tag(version=version, is_paused=True, incarnation="mk3x0a9z7q2c") for version in range(100, 116)]
    restored = Tag(version=1, is_paused=False, incarnation="mk4000000000")

    kept = parse_if_match(", ".join(str(tag) for tag in [restored, *old_entry]))

    assert kept is not None
    assert restored in kept
    assert old_entry[0] not in kept


@pytest.mark.parametrize(
    ("header", "hits"),
    [
        ('W/"8.p.mk3x0a9z7q2c"', True),
        ('"8.p.mk3x0a9z7q2c"', True),
        ('"8"', False),  # an old-style tag: the full answer, never a wrong 304
        ('"8.r.mk3x0a9z7q2c"', False),
        ('"8.p.mk4000000000"', False),
        ('x8.p.mk3x0a9z7q2c"', False),  # not an entity tag: no opening quote
        ('"8.p.mk3x0a9z7q2cx', False),  # nor without its closing one
        ("*", True),
    ],
    ids=["weak", "strong", "old-style", "other-value", "other-incarnation", "unopened", "unclosed", "star"],
)
def test_if_none_match_compares_weakly_and_exactly(header: str, hits: bool) -> None:
    assert read_outcome(parse_preconditions(if_none_match=header), PAUSED_8, None) == (304 if hits else 200)


WRITTEN = datetime(2026, 11, 29, 8, 0, 0, 400_000, tzinfo=UTC)


def test_last_modified_is_the_next_second_once_it_has_passed() -> None:
    assert last_modified(WRITTEN, WRITTEN + timedelta(seconds=2)) == datetime(2026, 11, 29, 8, 0, 1, tzinfo=UTC)
    assert last_modified(WRITTEN, datetime(2026, 11, 29, 8, 0, 1, tzinfo=UTC)) == datetime(
        2026, 11, 29, 8, 0, 1, tzinfo=UTC
    )


def test_last_modified_is_the_writes_own_second_while_that_second_lasts() -> None:
    assert last_modified(WRITTEN, WRITTEN + timedelta(milliseconds=100)) == datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
    assert last_modified(None, WRITTEN) is None


def test_a_write_in_the_same_second_as_the_validator_is_never_answered_304() -> None:
    """A client holding the Last-Modified of a write at 08:00:00.400, answered within that second, sends
    If-Modified-Since: 08:00:00; a write at 08:00:00.900 must reach it."""
    held = http_date_of(format_http_date(last_modified(WRITTEN, WRITTEN + timedelta(milliseconds=100)) or WRITTEN))
    assert held is not None
    later_same_second = WRITTEN + timedelta(milliseconds=500)
    current = Tag(version=9, is_paused=True, incarnation="mk3x0a9z7q2c")

    assert (
        read_outcome(parse_preconditions(if_modified_since=format_http_date(held)), current, later_same_second) == 200
    )


def test_the_next_second_validator_is_304_until_a_later_write() -> None:
    date = format_http_date(last_modified(WRITTEN, WRITTEN + timedelta(seconds=5)) or WRITTEN)
    preconditions = parse_preconditions(if_modified_since=date)

    assert read_outcome(preconditions, PAUSED_8, WRITTEN) == 304
    assert read_outcome(preconditions, PAUSED_8, WRITTEN + timedelta(seconds=5)) == 200


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 10000 00:00:00 GMT",
        "Tue, 31 Feb 2026 00:00:00 GMT",
        "yesterday",
        "",
        "Sun, 29 Nov 2026 08:00:00",  # no zone
    ],
    ids=["huge-year", "year-10000", "no-such-day", "words", "empty", "no-zone"],
)
def test_a_date_no_calendar_holds_is_ignored(value: str) -> None:
    assert http_date_of(value) is None


def test_http_dates_are_english_and_gmt_whatever_the_zone() -> None:
    tokyo = datetime(2026, 11, 29, 17, 0, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))

    assert format_http_date(tokyo) == "Sun, 29 Nov 2026 17:00:00 GMT"
    assert http_date_of("Sun, 29 Nov 2026 17:00:00 GMT") == datetime(2026, 11, 29, 17, 0, 0, tzinfo=UTC)


def test_a_stored_time_is_read_up_to_its_size_cap_and_not_beyond() -> None:
    """ISO 8601 allows any number of fractional digits; the cap (64 characters) is where reading stops."""
    at_the_cap = "2026-12-01T08:00:00." + "5" * (MAX_TIME_LENGTH - 26) + "+00:00"

    assert len(at_the_cap) == MAX_TIME_LENGTH
    assert iso_time(at_the_cap) == datetime(2026, 12, 1, 8, 0, 0, 555_555, tzinfo=UTC)
    assert iso_time(at_the_cap.replace(".", ".5")) is None


def test_a_header_date_is_read_up_to_its_size_cap_and_not_beyond() -> None:
    """Whitespace around an HTTP date is allowed; the cap (64 characters) is where reading stops."""
    date = "Sun, 29 Nov 2026 08:00:00 GMT"
    at_the_cap = date.rjust(MAX_TIME_LENGTH)

    assert http_date_of(at_the_cap) == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert http_date_of(" " + at_the_cap) is None
