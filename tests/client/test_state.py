"""SchedulerState and the small readers of HTTP values it rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler_client import SchedulerState
from scheduler_client.state import (
    StatusView,
    Window,
    flipped_tag,
    format_time,
    opaque_tag,
    parse_http_date,
    parse_iso_time,
    same_version,
    version_of,
)

EIGHT = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "line"),
    [
        (SchedulerState(True, '"7.p.mk3x0a9z7q2c"', EIGHT), "paused (version 7, since 2026-11-29 08:00:00 UTC)"),
        (SchedulerState(False, '"8.r.mk3x0a9z7q2c"', EIGHT), "resumed (version 8, since 2026-11-29 08:00:00 UTC)"),
        (SchedulerState(False, '"8.r"', None), "resumed (version 8)"),
        (SchedulerState(True, 'W/"x"', None), 'paused (etag W/"x")'),
        (SchedulerState(True, '"7"', None), 'paused (etag "7")'),  # an old-style tag names no version
        (SchedulerState(True, None, None), "paused (etag none)"),
    ],
    ids=["paused", "resumed", "no-time", "odd-etag", "old-style", "no-etag"],
)
def test_one_line_for_people(state: SchedulerState, line: str) -> None:
    assert state.describe() == line


def test_json_has_the_value_the_tag_the_version_and_the_time() -> None:
    assert SchedulerState(True, '"7.p.mk3x0a9z7q2c"', EIGHT).to_json() == {
        "is_paused": True,
        "etag": '"7.p.mk3x0a9z7q2c"',
        "version": 7,
        "last_modified": "2026-11-29T08:00:00+00:00",
    }
    assert SchedulerState(True, None, None).to_json()["last_modified"] is None


@pytest.mark.parametrize(
    ("etag", "opaque"),
    [('"7"', "7"), ('W/"7"', "7"), (' "7" ', "7"), ('""', ""), ('"', None), ("ab", None), ("7", None), (None, None)],
)
def test_the_quoted_part_of_an_entity_tag(etag: str | None, opaque: str | None) -> None:
    assert opaque_tag(etag) == opaque


def test_versions_compare_weakly_and_nothing_equals_no_tag() -> None:
    assert same_version('W/"7"', '"7"')
    assert not same_version('"7"', '"8"')
    assert not same_version(None, None)
    assert not same_version("7", "7")


@pytest.mark.usefixtures("tokyo")
@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("Sun, 29 Nov 2026 08:00:00 GMT", EIGHT),
        ("Sun, 29 Nov 2026 10:00:00 +0200", EIGHT),
        ("Sun, 29 Nov 2026 08:00:00 -0000", EIGHT),  # no zone: taken as UTC
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
    ids=["gmt", "offset", "no-zone", "not-a-date", "empty", "none"],
)
def test_http_dates_become_utc(value: str | None, moment: datetime | None) -> None:
    parsed = parse_http_date(value)
    assert parsed == moment
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.usefixtures("tokyo")
def test_times_print_in_utc_whatever_their_zone() -> None:
    tokyo = EIGHT.astimezone(timezone(timedelta(hours=9)))
    assert format_time(tokyo) == "2026-11-29 08:00:00 UTC"


@pytest.mark.parametrize(
    ("etag", "version"),
    [
        ('"7.p.mk3x0a9z7q2c"', 7),
        ('W/"7.r.mk3x0a9z7q2c"', 7),
        ('"0.p"', 0),
        ('"7"', None),
        ('"7.x.y"', None),
        ('"a.p.y"', None),
        (None, None),
    ],
)
def test_the_version_a_tag_names(etag: str | None, version: int | None) -> None:
    assert version_of(etag) == version


@pytest.mark.parametrize(
    ("etag", "flipped"),
    [
        ('"7.p.mk3x0a9z7q2c"', '"7.r.mk3x0a9z7q2c"'),
        ('"0.r"', '"0.p"'),
        ('W/"3.r.abc"', '"3.p.abc"'),
        ('"7"', None),
        (None, None),
    ],
)
def test_the_flipped_tag_is_the_same_version_with_the_other_value(etag: str | None, flipped: str | None) -> None:
    assert flipped_tag(etag) == flipped


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-11-29T08:00:00+00:00", EIGHT),
        ("2026-11-29T10:00:00+02:00", EIGHT),  # the offset is applied, not dropped
        ("2026-11-29T01:00:00-07:00", EIGHT),
        ("2026-11-29T08:00:00", EIGHT),  # no zone: taken as UTC
        ("9999-12-31T23:59:59-23:59", None),  # past the calendar's end once in UTC
        ("0001-01-01T00:00:00+23:59", None),  # before its start
        ("2026-11-29T08:00:00+00:00" + " " * 64, None),  # too long to be a time: not parsed at all
        ("yesterday", None),
    ],
    ids=["utc", "east", "west", "no-zone", "past-the-end", "before-the-start", "too-long", "not-a-time"],
)
def test_iso_times_become_utc_and_what_is_no_time_is_none(value: str, moment: datetime | None) -> None:
    parsed = parse_iso_time(value)
    assert parsed == moment
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_the_status_view_reads_its_times_in_utc_and_its_windows_whole() -> None:
    state = SchedulerState(True, '"7.p.mk3x0a9z7q2c"', EIGHT)
    view = StatusView.from_document(
        state,
        {
            "updated_at": "2026-11-29T10:00:00+02:00",
            "updated_by": "alice",
            "via": "state machine",
            "reason": "release",
            "windows": [
                {
                    "name": "release-42",
                    "execution": "arn:aws:states:eu-west-1:1:execution:w:r42",
                    "until": "2026-11-29T12:30:00+02:00",
                },
                {"name": "open-ended", "execution": "arn:aws:states:eu-west-1:1:execution:w:oe", "until": None},
                "not a window",
            ],
            "stage": "prod",
        },
    )
    assert view.updated_at == EIGHT
    assert view.windows == (
        Window("release-42", "arn:aws:states:eu-west-1:1:execution:w:r42", datetime(2026, 11, 29, 10, 30, tzinfo=UTC)),
        Window("open-ended", "arn:aws:states:eu-west-1:1:execution:w:oe", None),
    )
    assert view.to_json()["windows"] == [
        {
            "name": "release-42",
            "execution": "arn:aws:states:eu-west-1:1:execution:w:r42",
            "until": "2026-11-29T10:30:00+00:00",
        },
        {"name": "open-ended", "execution": "arn:aws:states:eu-west-1:1:execution:w:oe", "until": None},
    ]
    assert view.describe().splitlines() == [
        "paused (version 7, since 2026-11-29 08:00:00 UTC)",
        "changed by alice via state machine, at 2026-11-29 08:00:00 UTC",
        "reason: release",
        "held by maintenance window release-42 until 2026-11-29 10:30:00 UTC",
        "held by maintenance window open-ended until ?",
    ]


def test_a_status_view_with_a_hand_edited_time_past_the_calendar_says_it_does_not_know_when() -> None:
    view = StatusView.from_document(
        SchedulerState(True, '"7.p.mk3x0a9z7q2c"', None), {"updated_at": "9999-12-31T23:59:59-23:59", "via": "api"}
    )
    assert view.updated_at is None
    assert view.to_json()["updated_at"] is None
    assert "changed by unknown via api, at an unknown time" in view.describe()


def test_a_time_of_exactly_the_longest_length_is_still_read() -> None:
    longest = "2026-11-29T08:00:00." + "0" * 38 + "+00:00"  # fractional digits past six are dropped
    assert len(longest) == 64
    assert parse_iso_time(longest) == EIGHT
    assert parse_iso_time(longest[:20] + "0" + longest[20:]) is None  # one more: not parsed


@pytest.mark.usefixtures("tokyo")  # a naive time must not be read as the machine's local time
@pytest.mark.parametrize("value", ["2026-11-29T08:00:00", "2026-11-29T10:00:00+02:00"])
def test_iso_times_are_utc_whatever_the_machines_zone(value: str) -> None:
    parsed = parse_iso_time(value)
    assert parsed == EIGHT
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


def test_the_status_views_texts_are_texts_or_nothing() -> None:
    state = SchedulerState(True, '"7.p.mk3x0a9z7q2c"', EIGHT)
    view = StatusView.from_document(state, {"updated_by": "", "via": 5, "reason": ["why"], "stage": ""})
    assert (view.updated_by, view.via, view.reason, view.stage) == (None, "unknown", None, None)
