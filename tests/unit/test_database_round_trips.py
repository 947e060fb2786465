"""One DynamoDB round trip per request, none for rejected input: counted on the client itself."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import api_event, etag_of


@pytest.mark.usefixtures("scheduler_entry")
def test_get_is_one_strongly_consistent_get_item(invoke: Any, dynamodb_calls: Any, dynamodb: Any) -> None:
    seen: list[dict[str, Any]] = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: seen.append(params))

    invoke(api_event("GET"))

    assert dynamodb_calls.operations == ["GetItem"]
    assert seen[0]["ConsistentRead"] is True


@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "if-match"])
def test_patch_is_one_update_item_and_no_read(
    invoke: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, conditional: bool
) -> None:
    headers = {"If-Match": etag_of(scheduler_entry)} if conditional else {}
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers=headers))

    assert response["statusCode"] == 201
    assert dynamodb_calls.operations == ["UpdateItem"]


def test_a_failed_precondition_is_told_from_the_same_single_call(
    invoke: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any
) -> None:
    stale = f'"41.r.{scheduler_entry["incarnation"]["S"]}"'
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": stale}))

    assert response["statusCode"] == 412
    assert dynamodb_calls.operations == ["UpdateItem"]


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("method", "body", "path"),
    [
        ("PATCH", '{"nope": 1}', "/scheduler/"),
        ("PATCH", "{}", "/scheduler/"),
        ("PATCH", "not json", "/scheduler/"),
        ("DELETE", None, "/scheduler/"),
        ("GET", None, "/elsewhere"),
    ],
)
def test_rejected_requests_make_no_database_call(
    invoke: Any, dynamodb_calls: Any, method: str, body: str | None, path: str
) -> None:
    response = invoke(api_event(method, body=body, path=path))

    assert response["statusCode"] >= 400
    assert dynamodb_calls.operations == []


def test_the_client_is_created_once_per_container(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    from scheduler_service import store

    store.dynamodb_client.cache_clear()
    for _ in range(3):
        invoke(api_event("GET"))

    assert store.dynamodb_client.cache_info().misses == 1
