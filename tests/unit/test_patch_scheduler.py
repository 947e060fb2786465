"""PATCH /scheduler/ — sets the switch (201, Location, same body as GET); rejects anything else with a
400 text/plain that says why, and then nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, etag_of, stored_item


@pytest.mark.parametrize("path", ["/scheduler/", "/scheduler"])
@pytest.mark.parametrize("value", [True, False])
def test_patch_sets_the_switch_and_answers_201_with_location(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], path: str, value: bool
) -> None:
    response = invoke(api_event("PATCH", path=path, body=json.dumps({"is_paused": value})))

    assert response["statusCode"] == 201
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"is_paused": value}
    assert response["headers"]["Location"] == f"https://abcdef1234.execute-api.eu-west-1.amazonaws.com/dev{path}"
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": value}


def test_patch_then_get_agree(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    patched = invoke(api_event("PATCH", body='{"is_paused": true}'))
    got = invoke(api_event("GET"))

    assert got["body"] == patched["body"]
    assert got["headers"]["ETag"] == patched["headers"]["ETag"]


def test_patch_bumps_the_version_and_records_who_and_when(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}'))

    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "2"}
    assert response["headers"]["ETag"] == etag_of(item)
    assert response["headers"]["ETag"] == f'"2.p.{scheduler_entry["incarnation"]["S"]}"'
    assert item["updated_by"] == {"S": "arn:aws:sts::123456789012:assumed-role/SchedulerOperator/operator"}
    assert item["updated_at"] != scheduler_entry["updated_at"]


def test_a_plain_text_body_is_read_like_a_base64_one(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', base64_body=False))

    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"is_paused": True}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"is_paused": true, "node": "a"}', ['"node"']),
        ('{"colour": "red", "size": 3}', ['"colour"', '"size"']),
        ('{"is_paused": true, "a": 1, "b": null}', ['"a"', '"b"']),
    ],
    ids=["one-unexpected-beside-valid", "two-unexpected", "valid-part-not-applied"],
)
def test_unexpected_fields_are_400_listing_every_one(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], body: str, words: list[str]
) -> None:
    response = invoke(api_event("PATCH", body=body))

    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "text/plain"
    assert "nexpected" in response["body"]
    for word in words:
        assert word in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


def test_no_fields_is_400_saying_so(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    response = invoke(api_event("PATCH", body="{}"))

    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "text/plain"
    assert "No fields" in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


BAD_BODIES = {
    "string-value": ('{"is_paused": "yes"}', "true or false"),
    "number-value": ('{"is_paused": 1}', "true or false"),
    "null-value": ('{"is_paused": null}', "true or false"),
    "array-value": ('{"is_paused": [true]}', "true or false"),
    "malformed-json": ('{"is_paused": tru', "not valid JSON"),
    "trailing-garbage": ('{"is_paused": true} x', "not valid JSON"),
    "nan": ('{"is_paused": NaN}', "not valid JSON"),
    "duplicate-key": ('{"is_paused": true, "is_paused": false}', "more than once"),
    "array-body": ("[true]", "JSON object"),
    "string-body": ('"is_paused"', "JSON object"),
    "null-body": ("null", "JSON object"),
    "empty-body": ("", "empty"),
    "blank-body": ("  \n ", "empty"),
    "oversized-body": ('{"is_paused": true}' + " " * 2048, "larger than"),
}


@pytest.mark.parametrize(("body", "words"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_are_400_saying_what_is_wrong_and_write_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], body: str, words: str
) -> None:
    response = invoke(api_event("PATCH", body=body))

    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "text/plain"
    assert words in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


def test_a_missing_body_is_400(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    response = invoke(api_event("PATCH", body=None))

    assert response["statusCode"] == 400
    assert "empty" in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.parametrize(
    "raw", [b'{"is_paused": \xff}', b"\xc3\x28", b'{"is_paused": true, "\xfe": 1}'], ids=["ff", "bad-pair", "key"]
)
def test_a_body_that_is_not_utf8_is_400(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], raw: bytes
) -> None:
    response = invoke(api_event("PATCH", body=raw))

    assert response["statusCode"] == 400
    assert "UTF-8" in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


def test_a_body_flagged_base64_that_is_not_base64_is_400(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["body"] = "{not base64!}"

    response = invoke(event)

    assert response["statusCode"] == 400
    assert "base64" in response["body"]
    assert stored_item(dynamodb) == scheduler_entry


def test_patch_without_the_entry_is_500_and_creates_nothing(invoke: Any, dynamodb: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}'))

    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "text/plain"
    assert "missing" in response["body"]
    assert stored_item(dynamodb) is None


def test_unexpected_field_names_are_quoted_so_the_text_stays_plain(
    invoke: Any, scheduler_entry: dict[str, Any]
) -> None:
    response = invoke(api_event("PATCH", body='{"line\\nbreak": 1, "\\u00e9t\\u00e9": 2}'))

    assert response["statusCode"] == 400
    assert '"line\\nbreak"' in response["body"]
    assert '"\\u00e9t\\u00e9"' in response["body"]
    assert response["body"].isascii()
