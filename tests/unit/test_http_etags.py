"""ETag / If-Match / If-None-Match: optimistic concurrency on top of the spec. A tag names one representation
exactly (version, value, incarnation), so it changes whenever the switch changes, whoever changed it and
however, and a re-created entry never reuses an old one's tags. Clients that send no precondition see exactly
the spec's behaviour (covered in the GET and PATCH tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TABLE_NAME, api_event, etag_of, stored_item


def _etag(invoke: Any) -> str:
    etag: str = invoke(api_event("GET"))["headers"]["ETag"]
    return etag


def _incarnation(item: dict[str, Any]) -> str:
    incarnation: str = item["incarnation"]["S"]
    return incarnation


def test_patch_with_the_current_etag_succeeds(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    etag = _etag(invoke)

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": etag}))

    assert response["statusCode"] == 201
    assert response["headers"]["ETag"] != etag


@pytest.mark.parametrize("form", ["exact", "in-a-list", "star"])
def test_if_match_accepts_the_forms_http_allows(invoke: Any, scheduler_entry: dict[str, Any], form: str) -> None:
    current = etag_of(scheduler_entry)
    if_match = {"exact": current, "in-a-list": f'"7.r.{_incarnation(scheduler_entry)}", {current}', "star": "*"}[form]

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"if-match": if_match}))

    assert response["statusCode"] == 201


def test_patch_with_a_stale_etag_is_412_and_writes_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    stale = _etag(invoke)
    invoke(api_event("PATCH", body='{"is_paused": true}'))
    before = stored_item(dynamodb)
    assert before is not None

    response = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": stale}))

    assert response["statusCode"] == 412
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["headers"]["ETag"] == etag_of(before)
    assert stored_item(dynamodb) == before


@pytest.mark.parametrize(
    "if_match",
    [
        'W/"1.r.mk3x0a9z7q2c"',
        '"not-a-version"',
        '"1"',  # an old-style tag
        "1.r",
        "",
        "garbage, W/",
        '"01.r"',
        '"1234567890123456789012345678901234567890.r"',
        '"-1.r"',
        '"1.0.r"',
    ],
    ids=[
        "weak",
        "foreign",
        "old-style",
        "unquoted",
        "empty",
        "junk",
        "leading-zero",
        "too-many-digits",
        "negative",
        "decimal",
    ],
)
def test_tags_that_cannot_match_are_412_without_touching_the_table(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, if_match: str
) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": if_match}))

    assert response["statusCode"] == 412
    assert response["headers"]["Content-Type"] == "text/plain"
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.parametrize(
    "if_none_match", ["0", "", "W/", '"x"', '"1"'], ids=["bare", "empty", "junk", "foreign", "old-style"]
)
def test_an_if_none_match_that_names_no_current_tag_gets_the_full_answer(
    invoke: Any, scheduler_entry: dict[str, Any], if_none_match: str
) -> None:
    response = invoke(api_event("GET", headers={"If-None-Match": if_none_match}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": False}


def test_if_match_on_a_missing_entry_is_still_500(invoke: Any, dynamodb: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": '"1.r.mk3x0a9z7q2c"'}))

    assert response["statusCode"] == 500
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize("form", ["strong", "weak", "in-a-list", "star"])
def test_get_with_a_matching_if_none_match_is_304_without_body(
    invoke: Any, scheduler_entry: dict[str, Any], form: str
) -> None:
    current = etag_of(scheduler_entry)
    header = {"strong": current, "weak": f"W/{current}", "in-a-list": f'"5.r.mk3x0a9z7q2c", {current}', "star": "*"}

    response = invoke(api_event("GET", headers={"If-None-Match": header[form]}))

    assert response["statusCode"] == 304
    assert response["body"] == ""
    assert response["headers"]["ETag"] == current


def test_get_with_an_old_if_none_match_is_a_full_200(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    old = _etag(invoke)
    invoke(api_event("PATCH", body='{"is_paused": true}'))

    response = invoke(api_event("GET", headers={"If-None-Match": old}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": True}


def test_a_header_repeated_on_several_lines_is_read_whole(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    current = etag_of(scheduler_entry)
    event = api_event("PATCH", body='{"is_paused": true}')
    event["headers"]["If-Match"] = current
    event["multiValueHeaders"]["If-Match"] = [f'"9.r.{_incarnation(scheduler_entry)}"', current]

    assert invoke(event)["statusCode"] == 201


def test_a_long_tag_list_is_checked_against_its_sixteen_newest_tags(
    invoke: Any, scheduler_entry: dict[str, Any]
) -> None:
    incarnation = _incarnation(scheduler_entry)
    newer = ", ".join(f'"{version}.r.{incarnation}"' for version in range(40, 1, -1))

    response = invoke(
        api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": f"{newer}, {etag_of(scheduler_entry)}"})
    )

    assert response["statusCode"] == 412  # the 16 newest named (versions 25 to 40) are checked; version 1 is not
    few = ", ".join(f'"{version}.r.{incarnation}"' for version in range(15, 1, -1))
    response = invoke(
        api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": f"{few}, {etag_of(scheduler_entry)}"})
    )
    assert response["statusCode"] == 201


# Changes that bypass the API: a console edit, a hand restore, a re-created entry.


def _edit_by_hand(dynamodb: Any, expression: str, values: dict[str, Any]) -> None:
    from scheduler_service import store

    dynamodb.update_item(
        TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, UpdateExpression=expression, ExpressionAttributeValues=values
    )


def test_a_hand_edit_of_the_switch_that_leaves_the_version_alone_changes_the_tag(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    held = _etag(invoke)
    _edit_by_hand(dynamodb, "SET is_paused = :paused", {":paused": {"BOOL": True}})
    edited = stored_item(dynamodb)
    assert edited is not None
    assert edited["version"] == scheduler_entry["version"]

    response = invoke(api_event("GET", headers={"If-None-Match": held}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": True}
    assert response["headers"]["ETag"] == etag_of(edited) != held
    stale_write = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": held}))
    assert stale_write["statusCode"] == 412
    assert stored_item(dynamodb) == edited


def test_two_hand_restores_with_different_values_serve_different_tags(invoke: Any, dynamodb: Any) -> None:
    from scheduler_service import store

    served = []
    for value in (False, True):
        dynamodb.put_item(TableName=TABLE_NAME, Item={**store.SCHEDULER_KEY, "is_paused": {"BOOL": value}})
        served.append(invoke(api_event("GET"))["headers"]["ETag"])

    assert served == ['"0.r"', '"0.p"']
    assert invoke(api_event("GET", headers={"If-None-Match": served[0]}))["statusCode"] == 200


def test_a_re_created_entry_never_reuses_an_old_entrys_tags(invoke: Any, dynamodb: Any) -> None:
    from scheduler_service import store

    assert store.create_if_missing(actor="first")
    invoke(api_event("PATCH", body='{"is_paused": false}'))  # version 2, running
    held = _etag(invoke)
    dynamodb.delete_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY)
    assert store.create_if_missing(actor="second", is_paused=True)
    invoke(api_event("PATCH", body='{"is_paused": false}'))  # version 2 again, running again

    response = invoke(api_event("GET", headers={"If-None-Match": held}))

    assert response["statusCode"] == 200
    assert response["headers"]["ETag"] != held
    assert response["headers"]["ETag"].split(".")[:2] == held.split(".")[:2]  # same version and value, new entry
