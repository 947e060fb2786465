"""ETag / If-Match / If-None-Match: optimistic concurrency on top of the spec. Clients that send no
precondition see exactly the spec's behaviour (covered in the GET and PATCH tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, stored_item


def _etag(invoke: Any) -> str:
    etag: str = invoke(api_event("GET"))["headers"]["ETag"]
    return etag


def test_patch_with_the_current_etag_succeeds(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    etag = _etag(invoke)

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": etag}))

    assert response["statusCode"] == 201
    assert response["headers"]["ETag"] != etag


@pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', "*"], ids=["exact", "in-a-list", "star"])
def test_if_match_accepts_the_forms_http_allows(invoke: Any, scheduler_entry: dict[str, Any], if_match: str) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"if-match": if_match}))

    assert response["statusCode"] == 201


def test_patch_with_a_stale_etag_is_412_and_writes_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    stale = _etag(invoke)
    invoke(api_event("PATCH", body='{"is_paused": true}'))
    before = stored_item(dynamodb)

    response = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": stale}))

    assert response["statusCode"] == 412
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["headers"]["ETag"] == '"2"'
    assert stored_item(dynamodb) == before


@pytest.mark.parametrize(
    "if_match",
    [
        'W/"1"',
        '"not-a-version"',
        "1",
        "",
        "garbage, W/",
        '"01"',
        '"1234567890123456789012345678901234567890"',
        '"-1"',
        '"1.0"',
    ],
    ids=["weak", "foreign", "unquoted", "empty", "junk", "leading-zero", "too-many-digits", "negative", "decimal"],
)
def test_tags_that_cannot_match_are_412_without_touching_the_table(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, if_match: str
) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": if_match}))

    assert response["statusCode"] == 412
    assert response["headers"]["Content-Type"] == "text/plain"
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.parametrize("if_none_match", ["0", "", "W/", '"x"'])
def test_an_if_none_match_that_names_no_version_gets_the_full_answer(
    invoke: Any, scheduler_entry: dict[str, Any], if_none_match: str
) -> None:
    response = invoke(api_event("GET", headers={"If-None-Match": if_none_match}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": False}


def test_if_match_on_a_missing_entry_is_still_500(invoke: Any, dynamodb: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": '"1"'}))

    assert response["statusCode"] == 500
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"5", "1"', "*"])
def test_get_with_a_matching_if_none_match_is_304_without_body(
    invoke: Any, scheduler_entry: dict[str, Any], if_none_match: str
) -> None:
    response = invoke(api_event("GET", headers={"If-None-Match": if_none_match}))

    assert response["statusCode"] == 304
    assert response["body"] == ""
    assert response["headers"]["ETag"] == '"1"'


def test_get_with_an_old_if_none_match_is_a_full_200(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    old = _etag(invoke)
    invoke(api_event("PATCH", body='{"is_paused": true}'))

    response = invoke(api_event("GET", headers={"If-None-Match": old}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": True}


def test_a_header_repeated_on_several_lines_is_read_whole(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["headers"]["If-Match"] = '"1"'
    event["multiValueHeaders"]["If-Match"] = ['"9"', '"1"']

    assert invoke(event)["statusCode"] == 201


def test_a_long_tag_list_is_checked_against_its_newest_hundred_versions(
    invoke: Any, scheduler_entry: dict[str, Any]
) -> None:
    tags = ", ".join(f'"{version}"' for version in range(500, 0, -1))

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": tags}))

    # The 100 newest of the named versions are checked; version 1 is not among them.
    assert response["statusCode"] == 412
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": '"1", ' + tags[:40]}))
    assert response["statusCode"] == 201
