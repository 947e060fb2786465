"""An entry restored by hand (only the key and is_paused, or worse) never wedges anything: it serves the ETag
"0.p" (version 0, paused, no incarnation), takes a PATCH with or without it (which gives the entry an
incarnation), and an entry without a boolean switch is a fixed 500 until a PATCH repairs it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler_service.http_edge import INTERNAL_ERROR_TEXT
from tests.conftest import TABLE_NAME, api_event, etag_of, stored_item

KEY = {"pk": {"S": "scheduler"}}


@pytest.fixture
def restored_by_hand(dynamodb: Any) -> dict[str, Any]:
    item = {**KEY, "is_paused": {"BOOL": True}}
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    return item


@pytest.mark.usefixtures("restored_by_hand")
def test_get_answers_200_with_etag_zero_and_no_last_modified(invoke: Any) -> None:
    response = invoke(api_event("GET"))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": True}
    assert response["headers"]["ETag"] == '"0.p"'
    assert "Last-Modified" not in response["headers"]


@pytest.mark.usefixtures("restored_by_hand")
def test_patch_with_the_etag_it_served_is_201_and_starts_the_versions(invoke: Any, dynamodb: Any) -> None:
    etag = invoke(api_event("GET"))["headers"]["ETag"]

    response = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": etag}))

    assert response["statusCode"] == 201
    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "1"}
    assert item["is_paused"] == {"BOOL": False}
    assert item["incarnation"]["S"]  # the write gave the entry an incarnation: its tags are its own from now on
    assert response["headers"]["ETag"] == etag_of(item) == f'"1.r.{item["incarnation"]["S"]}"'


@pytest.mark.usefixtures("restored_by_hand")
def test_patch_without_an_etag_is_201(invoke: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": false}'))

    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"is_paused": False}


@pytest.mark.usefixtures("restored_by_hand")
def test_a_wrong_etag_is_still_412(invoke: Any, dynamodb: Any, restored_by_hand: dict[str, Any]) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": '"3.p"'}))

    assert response["statusCode"] == 412
    assert response["headers"]["ETag"] == '"0.p"'
    assert stored_item(dynamodb) == restored_by_hand
    running_zero = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-Match": '"0.r"'}))
    assert running_zero["statusCode"] == 412  # version 0, but not the value it holds
    assert stored_item(dynamodb) == restored_by_hand


@pytest.mark.usefixtures("restored_by_hand")
def test_if_none_match_etag_zero_is_304_on_get_and_412_on_patch(invoke: Any) -> None:
    assert invoke(api_event("GET", headers={"If-None-Match": '"0.p"'}))["statusCode"] == 304
    assert (
        invoke(api_event("PATCH", body='{"is_paused": false}', headers={"If-None-Match": '"0.p"'}))["statusCode"] == 412
    )


@pytest.mark.usefixtures("restored_by_hand")
def test_a_direct_write_with_if_match_zero_sets_it(invoke: Any, dynamodb: Any) -> None:
    answer = invoke({"is_paused": False, "if_match": '"0.p"'})

    item = stored_item(dynamodb)
    assert item is not None
    assert answer == {"is_paused": False, "etag": etag_of(item)}
    assert answer["etag"].startswith('"1.r.')


ODD_SWITCHES = {
    "missing": {},
    "string": {"is_paused": {"S": "yes"}},
    "number": {"is_paused": {"N": "1"}},
    "null": {"is_paused": {"NULL": True}},
}


@pytest.mark.parametrize("switch", ODD_SWITCHES.values(), ids=ODD_SWITCHES.keys())
def test_an_entry_without_a_boolean_switch_is_the_fixed_500_and_its_shape_is_logged(
    invoke: Any, dynamodb: Any, logs: Any, switch: dict[str, Any]
) -> None:
    dynamodb.put_item(TableName=TABLE_NAME, Item={**KEY, "version": {"N": "4"}, **switch})

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == INTERNAL_ERROR_TEXT
    (error,) = [line for line in logs() if line["level"] == "ERROR"]
    # What is wrong, and the shape: each attribute with its DynamoDB type, never a value.
    shape = {"pk": "S", "version": "N", **{name: next(iter(value)) for name, value in switch.items()}}
    assert f"CorruptSchedulerEntry: unexpected item attributes: {shape}" in error["exception"]


@pytest.mark.parametrize("switch", ODD_SWITCHES.values(), ids=ODD_SWITCHES.keys())
def test_a_valid_patch_repairs_an_entry_without_a_boolean_switch(
    invoke: Any, dynamodb: Any, switch: dict[str, Any]
) -> None:
    dynamodb.put_item(TableName=TABLE_NAME, Item={**KEY, "version": {"N": "4"}, **switch})

    response = invoke(api_event("PATCH", body='{"is_paused": true}'))

    assert response["statusCode"] == 201
    assert invoke(api_event("GET"))["statusCode"] == 200
    item = stored_item(dynamodb)
    assert item is not None
    assert response["headers"]["ETag"] == etag_of(item)
    assert response["headers"]["ETag"].startswith('"5.p.')
    assert item["is_paused"] == {"BOOL": True}
    # The switch before, as it was; DynamoDB's NULL (only ever true) when there was none: a repair, not a flip.
    assert item["w0o"] == switch.get("is_paused", {"NULL": True})


@pytest.mark.usefixtures("restored_by_hand")
def test_a_maintenance_window_opens_and_closes_on_an_entry_restored_by_hand(invoke: Any, dynamodb: Any) -> None:
    invoke({"is_paused": False})  # resume it by hand: version 1
    window = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:w-1"

    opened = invoke({"action": "open_window", "wait_seconds": 0, "caller": window})
    closed = invoke({"action": "close_window", "caller": window})

    assert opened["outcome"] == "paused"
    assert closed["outcome"] == "resumed"
    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "3"}


def test_a_window_on_a_versionless_entry_writes_conditionally_on_version_zero(invoke: Any, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE_NAME, Item={**KEY, "is_paused": {"BOOL": False}})
    window = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:w-2"

    opened = invoke({"action": "open_window", "wait_seconds": 0, "caller": window})

    assert opened["outcome"] == "paused"
    assert opened["etag"].startswith('"1.p.')
