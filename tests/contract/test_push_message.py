"""The push message (docs/protocol.md, The message): what a publisher writes validates against the JSON Schema
a node in any language reads, and a reader takes exactly a whole, consistent message and nothing else. Poison
of any kind says nothing and raises nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler_contract.message import MAX_MESSAGE_BYTES, PushMessage, decode_message, encode_message
from scheduler_contract.tags import Tag

PAUSED_8 = Tag(8, True, "mk3x0a9z7q2c")
WRITTEN = datetime(2026, 12, 1, 8, 0, 0, 123000, tzinfo=UTC)


def payload(**fields: Any) -> bytes:
    document = {"is_paused": True, "etag": '"8.p.mk3x0a9z7q2c"', "version": 8, "updated_at": None, **fields}
    return json.dumps({name: value for name, value in document.items() if value is not ...}).encode()


def test_a_message_is_the_state_its_tag_its_version_and_its_time_in_utc() -> None:
    written_in_paris = WRITTEN.astimezone(timezone(timedelta(hours=1)))

    assert json.loads(encode_message(PAUSED_8, written_in_paris)) == {
        "is_paused": True,
        "etag": '"8.p.mk3x0a9z7q2c"',
        "version": 8,
        "updated_at": "2026-12-01T08:00:00.123+00:00",
    }
    assert json.loads(encode_message(Tag(0, False), None))["updated_at"] is None


def test_what_is_written_is_read_back_whole() -> None:
    assert decode_message(encode_message(PAUSED_8, WRITTEN)) == PushMessage(PAUSED_8, WRITTEN)
    assert decode_message(encode_message(PAUSED_8, None)) == PushMessage(PAUSED_8, None)


tags = st.builds(
    Tag,
    version=st.integers(min_value=0, max_value=10**18 - 1),
    is_paused=st.booleans(),
    incarnation=st.one_of(st.none(), st.text("0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=32)),
)
times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
)


@given(tag=tags, written=times)
def test_every_message_a_publisher_writes_validates_against_the_schema(
    message_schema: Any, tag: Tag, written: datetime | None
) -> None:
    encoded = encode_message(tag, written)

    message_schema.validate(json.loads(encoded))
    assert len(encoded) <= MAX_MESSAGE_BYTES
    decoded = decode_message(encoded)
    assert decoded is not None
    assert decoded.tag == tag


def test_fields_added_later_are_ignored_by_the_reader_and_allowed_by_the_schema(message_schema: Any) -> None:
    later = payload(region="eu-west-1", ttl=30)

    message_schema.validate(json.loads(later))
    assert decode_message(later) == PushMessage(PAUSED_8, None)


# Each breaks the schema (and the reader refuses it): a node written from the schema alone agrees.
OUT_OF_SCHEMA = {
    "not-an-object": b"[]",
    "string-switch": payload(is_paused="true"),
    "numeric-tag": payload(etag=8),
    "unquoted-tag": payload(etag="8.p.mk3x0a9z7q2c"),
    "empty-tag": payload(etag=""),
    "quotes-only": payload(etag='""'),
    "weak-tag": payload(etag='W/"8.p.mk3x0a9z7q2c"'),
    "bad-incarnation": payload(etag='"8.p.a-b"'),
    "four-parts": payload(etag='"8.p.a.b"'),
    "no-version": payload(version=...),
    "boolean-version": payload(version=True),
    "text-version": payload(version="8"),
    "no-time": payload(updated_at=...),
    "time-with-z": payload(updated_at="2026-12-01T08:00:00.000Z"),
    "time-with-offset": payload(updated_at="2026-12-01T10:00:00.000+02:00"),
    "time-in-seconds": payload(updated_at="2026-12-01T08:00:00+00:00"),
    "time-far-offset": payload(updated_at="9999-12-31T23:59:59.000-23:59"),
    "numeric-time": payload(updated_at=1764576000),
}


@pytest.mark.parametrize("bad", OUT_OF_SCHEMA.values(), ids=OUT_OF_SCHEMA.keys())
def test_a_message_outside_the_schema_says_nothing(message_schema: Any, bad: bytes) -> None:
    document = json.loads(bad)

    assert not message_schema.is_valid(document)
    assert decode_message(bad) is None


# Valid by the schema's shapes, but not a whole message: the reader refuses these too (the schema's text says so).
INCONSISTENT_OR_POISON = {
    "value-disagrees-with-tag": payload(is_paused=False),
    "version-disagrees-with-tag": payload(version=9),
    "no-such-day": payload(updated_at="2026-02-30T08:00:00.000+00:00"),
    "key-twice": b'{"is_paused": false, "is_paused": true, "etag": "\\"8.p.mk3x0a9z7q2c\\"", "version": 8, '
    b'"updated_at": null}',
    "nan": payload()[:-1] + b', "x": NaN}',
    "too-deep": b"[" * 20_000,
    "too-large": payload(padding="x" * MAX_MESSAGE_BYTES),
    "not-utf8": b'{"is_paused": true, "etag": "\xff"}',
    "empty": b"",
    "truncated": payload()[:-3],
}


@pytest.mark.parametrize("bad", INCONSISTENT_OR_POISON.values(), ids=INCONSISTENT_OR_POISON.keys())
def test_poison_and_inconsistent_messages_say_nothing_and_raise_nothing(bad: bytes) -> None:
    assert decode_message(bad) is None


@given(st.binary(max_size=MAX_MESSAGE_BYTES + 10))
def test_no_payload_makes_the_reader_raise(garbage: bytes) -> None:
    message = decode_message(garbage)
    assert message is None or isinstance(message, PushMessage)


def test_the_message_is_compact_json_in_a_fixed_order() -> None:
    assert encode_message(PAUSED_8, WRITTEN) == (
        b'{"is_paused":true,"etag":"\\"8.p.mk3x0a9z7q2c\\"","version":8,"updated_at":"2026-12-01T08:00:00.123+00:00"}'
    )


@pytest.mark.usefixtures("tokyo")
def test_the_time_is_written_in_utc_whatever_the_publishers_zone() -> None:
    assert json.loads(encode_message(PAUSED_8, WRITTEN))["updated_at"] == "2026-12-01T08:00:00.123+00:00"


def test_a_message_of_exactly_the_largest_size_is_read() -> None:
    base = payload()
    padded = base[:-1] + b', "pad": "' + b"x" * (MAX_MESSAGE_BYTES - len(base) - 11) + b'"}'

    assert len(padded) == MAX_MESSAGE_BYTES
    assert decode_message(padded) == PushMessage(PAUSED_8, None)
    assert decode_message(padded[:-2] + b'x"}') is None  # one byte more


def test_a_boolean_is_no_version_even_where_it_equals_the_tags() -> None:
    """JSON true is not the number 1, though Python compares them equal."""
    first = json.dumps({"is_paused": True, "etag": '"1.p.mk3x0a9z7q2c"', "version": True, "updated_at": None})

    assert decode_message(first.encode()) is None
