"""Dates a request or a hand repair can bring: out of the calendar, in another zone, too long. A header date
that is no HTTP-date is ignored (RFC 9110 section 13.1.3), a stored time in a form the service did not write is
unknown, and nothing ever answers 500; GET and PATCH judge the same instants."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler_service import app
from tests.conftest import TABLE_NAME, LambdaContext, api_event, stored_item

PAUSE = '{"is_paused": true}'
NOT_HTTP_DATES = [
    "Fri, 31 Dec 9999 23:59:59 -2359",  # past the calendar once in UTC, and not GMT anyway
    "Sun, 06 Nov 1994 08:49:37 +0200",  # an offset: no HTTP-date
    "Mon, 01 Jan 0001 00:00:00 -0100",
    "Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100,  # longer than any date
    "99999999999999999999",
]


def call(method: str, lambda_context: LambdaContext, headers: dict[str, str]) -> dict[str, Any]:
    event = api_event(method, body=PAUSE if method == "PATCH" else None, headers=headers)
    answer: dict[str, Any] = app.lambda_handler(event, lambda_context)
    return answer


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("date", NOT_HTTP_DATES)
@pytest.mark.parametrize("header", ["If-Unmodified-Since", "If-Modified-Since"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "PATCH"])
def test_a_date_that_is_no_http_date_is_ignored(
    method: str, header: str, date: str, lambda_context: LambdaContext
) -> None:
    answer = call(method, lambda_context, {header: date})

    assert answer["statusCode"] == (201 if method == "PATCH" else 200)


def store_time(dynamodb: Any, updated_at: str) -> None:
    item = stored_item(dynamodb)
    assert item is not None
    dynamodb.put_item(TableName=TABLE_NAME, Item={**item, "updated_at": {"S": updated_at}})


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "updated_at", ["9999-12-31T23:59:59.999+00:00", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"]
)
def test_a_time_at_the_calendars_edge_written_by_hand_never_fails_a_read(
    dynamodb: Any, lambda_context: LambdaContext, updated_at: str
) -> None:
    store_time(dynamodb, updated_at)

    for method in ("GET", "HEAD"):
        assert call(method, lambda_context, {})["statusCode"] == 200
    assert call("GET", lambda_context, {"If-Modified-Since": "Tue, 01 Dec 2026 08:00:00 GMT"})["statusCode"] in (
        200,
        304,
    )
    assert app.lambda_handler(api_event("GET", path="/scheduler/status"), lambda_context)["statusCode"] == 200


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "updated_at",
    [
        "2026-12-01T08:00:00.000+00:00",  # the service's own form: a real validator
        "2026-12-01T10:00:00+02:00",  # the same instant, written by hand: unknown
        "2026-12-01T08:00:00.000Z",
        "2026-12-01T10:00:00.000+02:00",  # 29 characters, but another zone
    ],
)
@pytest.mark.parametrize(
    "date", ["Tue, 01 Dec 2026 07:30:00 GMT", "Tue, 01 Dec 2026 08:00:00 GMT", "Tue, 01 Dec 2026 08:30:00 GMT"]
)
def test_get_and_patch_judge_if_unmodified_since_against_the_same_instant(
    dynamodb: Any, lambda_context: LambdaContext, updated_at: str, date: str
) -> None:
    store_time(dynamodb, updated_at)
    read = call("GET", lambda_context, {"If-Unmodified-Since": date})["statusCode"]
    before = stored_item(dynamodb)

    written = call("PATCH", lambda_context, {"If-Unmodified-Since": date})["statusCode"]

    assert (read, written) in ((200, 201), (412, 412)), (read, written)
    if written == 412:
        assert stored_item(dynamodb) == before  # refused: nothing written
    own_form = updated_at == "2026-12-01T08:00:00.000+00:00"
    expected_refusal = own_form and date != "Tue, 01 Dec 2026 08:30:00 GMT"  # written at 08:00, strictly before?
    assert (written == 412) is expected_refusal
