"""The deploy-time custom resource: creates the entry if missing, never overwrites it, never deletes it,
and always answers CloudFormation — here a local HTTP server stands in for the pre-signed response URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from tests.conftest import EVENTS_DIR, TABLE_NAME, stored_item


class ResponseUrl:
    """A loopback HTTP server that records the PUTs CloudFormation would receive."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                recorder.received.append(json.loads(self.rfile.read(length)))
                recorder.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/stack-response?X-Amz-Signature=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def only_answer(self) -> dict[str, Any]:
        assert len(self.received) == 1
        return self.received[0]


@pytest.fixture
def response_url() -> Iterator[ResponseUrl]:
    endpoint = ResponseUrl()
    endpoint.thread.start()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def cfn_event(kind: str, response_url: ResponseUrl) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / "cloudformation" / f"{kind}.json").read_text())
    event["ResponseURL"] = response_url.url
    return event


def run(event: dict[str, Any], lambda_context: Any) -> None:
    import entry_resource

    entry_resource.handler(event, lambda_context)


def test_create_makes_the_entry_not_paused_and_answers_success(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("create", response_url)

    run(event, lambda_context)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": False}
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert answer[key] == event[key]
    assert answer["PhysicalResourceId"]


def test_create_never_overwrites_an_existing_entry(
    dynamodb: Any, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    paused = {**scheduler_entry, "is_paused": {"BOOL": True}, "version": {"N": "9"}}
    dynamodb.put_item(TableName=TABLE_NAME, Item=paused)

    run(cfn_event("create", response_url), lambda_context)

    assert stored_item(dynamodb) == paused
    assert response_url.only_answer()["Status"] == "SUCCESS"


def test_update_leaves_the_state_alone_and_keeps_the_physical_id(
    dynamodb: Any, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    paused = {**scheduler_entry, "is_paused": {"BOOL": True}}
    dynamodb.put_item(TableName=TABLE_NAME, Item=paused)
    event = cfn_event("update", response_url)

    run(event, lambda_context)

    assert stored_item(dynamodb) == paused
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]


def test_delete_keeps_the_data(
    dynamodb: Any, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("delete", response_url)

    run(event, lambda_context)

    assert stored_item(dynamodb) == scheduler_entry
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]


def test_a_database_failure_answers_failed_with_a_reason(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    dynamodb.delete_table(TableName=TABLE_NAME)

    run(cfn_event("create", response_url), lambda_context)

    answer = response_url.only_answer()
    assert answer["Status"] == "FAILED"
    assert "ResourceNotFoundException" in answer["Reason"]
    assert answer["PhysicalResourceId"]


def test_an_unknown_request_type_answers_failed(dynamodb: Any, response_url: ResponseUrl, lambda_context: Any) -> None:
    event = cfn_event("create", response_url)
    event["RequestType"] = "Rename"

    run(event, lambda_context)

    assert response_url.only_answer()["Status"] == "FAILED"
    assert stored_item(dynamodb) is None


def test_the_answer_is_put_with_an_empty_content_type(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    # The pre-signed S3 URL is signed without a content type; sending one would be refused.
    run(cfn_event("create", response_url), lambda_context)

    assert response_url.headers[0].get("Content-Type", "") == ""
