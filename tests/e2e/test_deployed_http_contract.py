"""The spec's HTTP contract on the deployed API, signed with SigV4 through the client. Nothing here changes
what the fleet does: the one write repeats the current value, conditionally on the version just read."""

from __future__ import annotations

import json

from scheduler_client import SchedulerClient


def test_get_answers_200_json_with_only_is_paused(client: SchedulerClient) -> None:
    response = client.request("GET")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(json.loads(response.content)) == {"is_paused"}
    assert response.headers.get("ETag")


def test_an_unsigned_request_is_refused_by_api_gateway(client: SchedulerClient) -> None:
    assert client.request("GET", signed=False).status_code == 403


def test_a_conditional_get_of_the_current_tag_is_304(client: SchedulerClient) -> None:
    etag = client.request("GET").headers["ETag"]

    assert client.request("GET", {"If-None-Match": etag}).status_code == 304


def test_patch_with_an_unexpected_field_is_400_naming_it(client: SchedulerClient) -> None:
    before = client.get()
    response = client.request("PATCH", {"Content-Type": "application/json"}, b'{"is_paused": true, "paused_by": "e2e"}')

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert b'"paused_by"' in response.content
    assert client.get().etag == before.etag  # nothing written


def test_patch_without_fields_is_400(client: SchedulerClient) -> None:
    before = client.get()
    response = client.request("PATCH", {"Content-Type": "application/json"}, b"{}")

    assert response.status_code == 400
    assert b"No fields were specified" in response.content
    assert client.get().etag == before.etag


def test_a_patch_repeating_the_value_is_201_with_location_and_the_same_body(client: SchedulerClient) -> None:
    current = client.get()
    body = json.dumps({"is_paused": current.is_paused}).encode()
    response = client.request("PATCH", {"Content-Type": "application/json", "If-Match": current.etag or "*"}, body)

    assert response.status_code == 201
    assert response.headers["Location"] == client.url
    assert json.loads(response.content) == {"is_paused": current.is_paused}
