"""The whole HTTP contract over real HTTP: SAM's local gateway, the real handler, DynamoDB Local."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import tag
from tests.integration.conftest import TABLE_NAME, LocalStack, stored_item

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_entry")]


@pytest.mark.parametrize("path", ["/scheduler/", "/scheduler"])
def test_get_answers_200_json(local_stack: LocalStack, http: requests.Session, path: str) -> None:
    response = http.get(f"http://127.0.0.1:{local_stack.port}{path}")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"is_paused": False}
    assert response.headers["ETag"] == tag(1, False)


@pytest.mark.parametrize("path", ["/scheduler/", "/scheduler"])
def test_patch_answers_201_with_location_and_the_new_state(
    local_stack: LocalStack, http: requests.Session, path: str
) -> None:
    url = f"http://127.0.0.1:{local_stack.port}{path}"

    response = http.patch(url, json={"is_paused": True})

    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"is_paused": True}
    assert response.headers["Location"] == url
    assert response.headers["ETag"] == tag(2, True)
    assert http.get(local_stack.url).json() == {"is_paused": True}


BAD_PATCHES: dict[str, tuple[bytes, str]] = {
    "unexpected-fields": (b'{"is_paused": true, "node": 1, "x": 2}', '"node", "x"'),
    "no-fields": (b"{}", "No fields"),
    "wrong-type": (b'{"is_paused": "yes"}', "true or false"),
    "null": (b'{"is_paused": null}', "true or false"),
    "malformed": (b'{"is_paused": ', "not valid JSON"),
    "not-an-object": (b"[true]", "JSON object"),
    "empty": (b"", "empty"),
    "oversized": (b'{"is_paused": true' + b" " * 4096 + b"}", "larger than"),
    "not-utf8": (b'{"is_paused": \xff}', "UTF-8"),
}


@pytest.mark.parametrize(("body", "words"), BAD_PATCHES.values(), ids=BAD_PATCHES.keys())
@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json; charset=utf-8", None])
def test_bad_patches_are_400_text_plain_and_write_nothing(
    local_stack: LocalStack,
    http: requests.Session,
    fresh_entry: dict[str, Any],
    body: bytes,
    words: str,
    content_type: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = http.patch(local_stack.url, data=body, headers=headers)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain"
    assert words in response.text
    assert stored_item(local_stack) == fresh_entry


@pytest.mark.parametrize("path", ["/nothing/here", "/"])
def test_unknown_paths_and_the_root_are_404(local_stack: LocalStack, http: requests.Session, path: str) -> None:
    response = http.get(f"http://127.0.0.1:{local_stack.port}{path}")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]
)
def test_a_patch_of_another_media_type_is_415_with_accept_patch(
    local_stack: LocalStack, http: requests.Session, fresh_entry: dict[str, Any], content_type: str
) -> None:
    response = http.patch(local_stack.url, data=b'{"is_paused": true}', headers={"Content-Type": content_type})

    assert response.status_code == 415
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Accept-Patch"] == "application/json, application/merge-patch+json"
    assert stored_item(local_stack) == fresh_entry


def test_head_answers_as_get_without_a_body(local_stack: LocalStack, http: requests.Session) -> None:
    get = http.get(local_stack.url)

    head = http.head(local_stack.url)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Type"] == "application/json"


def test_a_patch_resent_with_its_idempotency_key_is_written_once(
    local_stack: LocalStack, http: requests.Session
) -> None:
    headers = {"Idempotency-Key": '"retry-me"'}

    first = http.patch(local_stack.url, json={"is_paused": True}, headers=headers)
    again = http.patch(local_stack.url, json={"is_paused": True}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.headers["ETag"] == again.headers["ETag"] == tag(2, True)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405_with_allow(
    local_stack: LocalStack, http: requests.Session, fresh_entry: dict[str, Any], method: str
) -> None:
    response = http.request(method, local_stack.url, json={"is_paused": True})

    assert response.status_code == 405
    assert {part.strip() for part in response.headers["Allow"].split(",")} == {"GET", "HEAD", "PATCH"}
    assert stored_item(local_stack) == fresh_entry


def test_if_match_guards_the_write(local_stack: LocalStack, http: requests.Session) -> None:
    etag = http.get(local_stack.url).headers["ETag"]
    assert http.patch(local_stack.url, json={"is_paused": True}, headers={"If-Match": etag}).status_code == 201
    before = stored_item(local_stack)

    stale = http.patch(local_stack.url, json={"is_paused": False}, headers={"If-Match": etag})

    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "text/plain"
    assert stale.headers["ETag"] != etag
    assert stored_item(local_stack) == before


def test_if_none_match_answers_304_until_the_switch_changes(local_stack: LocalStack, http: requests.Session) -> None:
    etag = http.get(local_stack.url).headers["ETag"]

    assert http.get(local_stack.url, headers={"If-None-Match": etag}).status_code == 304
    http.patch(local_stack.url, json={"is_paused": True})
    assert http.get(local_stack.url, headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_a_missing_entry_is_500_text_plain_and_nothing_is_created(
    local_stack: LocalStack, http: requests.Session, method: str
) -> None:
    local_stack.dynamodb().delete_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}})

    response = http.request(method, local_stack.url, json={"is_paused": True} if method == "PATCH" else None)

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/plain"
    assert "missing" in response.text
    assert stored_item(local_stack) is None
