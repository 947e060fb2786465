"""Conditional requests in RFC 9110 section 13.2.2's order, on GET, HEAD and PATCH; HEAD as GET without a
body (Content-Length included); the PATCH media types. The entry's last change is at a fixed instant and the
requests come a minute later (an injected clock): its Last-Modified is the first whole second after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import api_event, stored_item

CHANGED_AT = datetime(2026, 11, 29, 8, 0, 0, 250_000, tzinfo=UTC)
SERVED_AT = CHANGED_AT + timedelta(minutes=1)
LAST_MODIFIED = "Sun, 29 Nov 2026 08:00:01 GMT"  # the first whole second after the change
SAME_SECOND = "Sun, 29 Nov 2026 08:00:00 GMT"  # the change's own second: it may hold a later change
BEFORE = "Sun, 29 Nov 2026 07:59:59 GMT"
LATER = "Sun, 29 Nov 2026 08:30:00 GMT"
HUGE = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"  # no calendar holds it: ignored, never a 500
INCARNATION = "mk3x0a9z7q2c"
CURRENT = f'"1.r.{INCARNATION}"'
OTHER = f'"7.r.{INCARNATION}"'


@pytest.fixture
def entry(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The entry at version 1, running, last changed at CHANGED_AT; the clock then stands at SERVED_AT."""
    from scheduler_service import store

    monkeypatch.setattr(store, "clock", lambda: CHANGED_AT)
    assert store.create_if_missing(actor="test-setup", incarnation=INCARNATION)
    monkeypatch.setattr(store, "clock", lambda: SERVED_AT)
    item = stored_item(dynamodb)
    assert item is not None
    return item


def get(invoke: Any, headers: dict[str, str], method: str = "GET") -> dict[str, Any]:
    response: dict[str, Any] = invoke(api_event(method, headers=headers))
    return response


def patch(invoke: Any, headers: dict[str, str], body: str = '{"is_paused": true}') -> dict[str, Any]:
    response: dict[str, Any] = invoke(api_event("PATCH", body=body, headers=headers))
    return response


def case_id(headers: dict[str, str]) -> str:
    """A readable test id without quotes or backslashes (tools pass ids back on a command line)."""
    return " ".join(f"{name}={value}" for name, value in headers.items()).replace('"', "")


@pytest.mark.usefixtures("entry")
def test_last_modified_is_the_first_whole_second_after_the_change(invoke: Any) -> None:
    assert get(invoke, {})["headers"]["Last-Modified"] == LAST_MODIFIED


def test_within_the_changes_own_second_last_modified_is_that_second(
    invoke: Any, entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_service import store

    monkeypatch.setattr(store, "clock", lambda: CHANGED_AT + timedelta(milliseconds=300))

    assert get(invoke, {})["headers"]["Last-Modified"] == SAME_SECOND


READS = [
    # If-Unmodified-Since, without If-Match
    ({"If-Unmodified-Since": BEFORE}, 412),
    ({"If-Unmodified-Since": SAME_SECOND}, 412),  # the change came after 08:00:00
    ({"If-Unmodified-Since": LAST_MODIFIED}, 200),
    ({"If-Unmodified-Since": LATER}, 200),
    ({"If-Unmodified-Since": "yesterday"}, 200),  # not an HTTP date: ignored
    ({"If-Unmodified-Since": HUGE}, 200),
    # If-Match wins over If-Unmodified-Since
    ({"If-Match": CURRENT, "If-Unmodified-Since": BEFORE}, 200),
    ({"If-Match": "*", "If-Unmodified-Since": BEFORE}, 200),
    ({"If-Match": OTHER}, 412),
    # If-Match is judged before If-None-Match
    ({"If-Match": OTHER, "If-None-Match": CURRENT}, 412),
    ({"If-Match": CURRENT, "If-None-Match": CURRENT}, 304),
    # If-Modified-Since, without If-None-Match
    ({"If-Modified-Since": LAST_MODIFIED}, 304),
    ({"If-Modified-Since": LATER}, 304),
    ({"If-Modified-Since": SAME_SECOND}, 200),  # a change in that second is never answered 304
    ({"If-Modified-Since": BEFORE}, 200),
    ({"If-Modified-Since": "not a date"}, 200),
    ({"If-Modified-Since": HUGE}, 200),
    ({"If-Modified-Since": "Sun, 29 Nov 2026 08:30:00 -0000"}, 200),  # -0000: no time zone, not an HTTP date
    # If-None-Match wins over If-Modified-Since
    ({"If-None-Match": OTHER, "If-Modified-Since": LATER}, 200),
    ({"If-None-Match": CURRENT, "If-Modified-Since": BEFORE}, 304),
    # If-Unmodified-Since is judged before If-None-Match
    ({"If-Unmodified-Since": BEFORE, "If-None-Match": CURRENT}, 412),
]


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("headers", "status"), READS, ids=[case_id(headers) for headers, _ in READS])
def test_reads_evaluate_preconditions_in_rfc_9110_order(
    invoke: Any, method: str, headers: dict[str, str], status: int
) -> None:
    response = get(invoke, headers, method)

    assert response["statusCode"] == status
    if status == 412:
        assert response["headers"]["ETag"] == CURRENT
    if status == 304 or method == "HEAD":
        assert response["body"] == ""


WRITES = [
    ({"If-Unmodified-Since": BEFORE}, 412),
    ({"If-Unmodified-Since": SAME_SECOND}, 412),
    ({"If-Unmodified-Since": LAST_MODIFIED}, 201),
    ({"If-Unmodified-Since": LATER}, 201),
    ({"If-Unmodified-Since": "soon"}, 201),
    ({"If-Unmodified-Since": HUGE}, 201),
    ({"If-Match": CURRENT, "If-Unmodified-Since": BEFORE}, 201),
    ({"If-None-Match": "*"}, 412),
    ({"If-None-Match": CURRENT}, 412),
    ({"If-None-Match": f"W/{CURRENT}"}, 412),
    ({"If-None-Match": f"{OTHER}, {CURRENT}"}, 412),
    ({"If-None-Match": OTHER}, 201),
    ({"If-None-Match": '"1"'}, 201),  # an old-style tag names nothing served now
    ({"If-Match": CURRENT, "If-None-Match": CURRENT}, 412),
    # If-None-Match: * with another precondition stays 412 (the entry exists), never a 500
    ({"If-Match": CURRENT, "If-None-Match": "*"}, 412),
    ({"If-Unmodified-Since": LATER, "If-None-Match": "*"}, 412),
    ({"If-Modified-Since": LATER}, 201),  # applies to GET and HEAD only
]


@pytest.mark.parametrize(("headers", "status"), WRITES, ids=[case_id(headers) for headers, _ in WRITES])
def test_patch_evaluates_preconditions_in_one_conditional_write(
    invoke: Any, dynamodb: Any, dynamodb_calls: Any, entry: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    dynamodb_calls.operations.clear()

    response = patch(invoke, headers)

    assert response["statusCode"] == status
    assert dynamodb_calls.operations == ["UpdateItem"]
    if status == 412:
        assert response["headers"]["ETag"] == CURRENT
        assert stored_item(dynamodb) == entry
    else:
        assert json.loads(response["body"]) == {"is_paused": True}


def test_if_none_match_star_on_a_missing_entry_is_still_500(invoke: Any, dynamodb: Any) -> None:
    response = patch(invoke, {"If-None-Match": "*"})

    assert response["statusCode"] == 500
    assert stored_item(dynamodb) is None


@pytest.mark.usefixtures("entry")
def test_get_with_if_match_naming_no_version_is_412_without_a_read(invoke: Any, dynamodb_calls: Any) -> None:
    dynamodb_calls.operations.clear()

    assert get(invoke, {"If-Match": f"W/{CURRENT}"})["statusCode"] == 412
    assert dynamodb_calls.operations == []


@pytest.mark.usefixtures("entry")
def test_head_answers_the_headers_of_get_content_length_included_without_its_body(invoke: Any) -> None:
    full = get(invoke, {})

    head = get(invoke, {}, "HEAD")

    assert head["statusCode"] == 200
    assert head["body"] == ""
    assert head["headers"] == {**full["headers"], "Content-Length": str(len(full["body"].encode()))}
    assert head["headers"]["Content-Length"] == "20"  # {"is_paused": false}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", "application/xml"],
)
def test_a_patch_of_another_media_type_is_415_with_accept_patch_and_costs_no_round_trip(
    invoke: Any, dynamodb: Any, dynamodb_calls: Any, entry: dict[str, Any], content_type: str
) -> None:
    dynamodb_calls.operations.clear()

    response = patch(invoke, {"Content-Type": content_type})

    assert response["statusCode"] == 415
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["headers"]["Accept-Patch"] == "application/json, application/merge-patch+json"
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == entry


def test_the_415_text_names_the_type_and_what_to_send(invoke: Any, entry: dict[str, Any]) -> None:
    assert patch(invoke, {"Content-Type": "text/plain"})["body"] == (
        'Content-Type "text/plain" is not supported: send application/json (or application/merge-patch+json) '
        'such as {"is_paused": true}.'
    )


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", ""],
)
def test_json_media_types_and_none_are_parsed(invoke: Any, content_type: str) -> None:
    assert patch(invoke, {"Content-Type": content_type})["statusCode"] == 201
