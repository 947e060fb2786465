"""GET /scheduler/ — returns the switch; 500 text/plain when the entry is missing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, etag_of


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("path", ["/scheduler/", "/scheduler"])
def test_get_returns_200_json_with_exactly_is_paused(invoke: Any, path: str) -> None:
    response = invoke(api_event("GET", path=path))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"is_paused": False}


def test_get_reports_the_stored_value(invoke: Any, scheduler_entry: dict[str, Any], dynamodb: Any) -> None:
    from tests.conftest import TABLE_NAME

    dynamodb.put_item(TableName=TABLE_NAME, Item={**scheduler_entry, "is_paused": {"BOOL": True}})

    assert json.loads(invoke(api_event("GET"))["body"]) == {"is_paused": True}


@pytest.mark.usefixtures("dynamodb")
def test_get_without_the_entry_is_500_text_plain_and_names_the_missing_entry(invoke: Any) -> None:
    response = invoke(api_event("GET"))

    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "text/plain"
    assert "missing" in response["body"]


def test_get_carries_an_etag_last_modified_and_no_cache(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    headers = invoke(api_event("GET"))["headers"]

    assert headers["ETag"] == etag_of(scheduler_entry)
    assert headers["ETag"].startswith('"1.r.')
    assert headers["Last-Modified"].endswith(" GMT")
    assert headers["Cache-Control"] == "no-cache"


@pytest.mark.usefixtures("scheduler_entry")
def test_get_ignores_a_body_and_a_query_string(invoke: Any) -> None:
    event = api_event("GET", body="not json at all")
    event["queryStringParameters"] = {"is_paused": "true"}

    response = invoke(event)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"is_paused": False}
