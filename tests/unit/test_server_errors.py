"""5xx answers are short fixed texts; what went wrong goes to the structured log with the request id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.conftest import TABLE_NAME, api_event, stored_item

LEAK_MARKERS = ("Traceback", "botocore", "boto3", "Exception", "ResourceNotFound", "dynamodb", 'File "')


@pytest.fixture
def stubbed(dynamodb: Any) -> Iterator[Stubber]:
    with Stubber(dynamodb) as stubber:
        yield stubber


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_a_missing_table_is_a_fixed_500_and_a_logged_error(invoke: Any, dynamodb: Any, logs: Any, method: str) -> None:
    dynamodb.delete_table(TableName=TABLE_NAME)
    event = api_event(method, body='{"is_paused": true}' if method == "PATCH" else None)

    response = invoke(event)

    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "text/plain"
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert errors
    assert errors[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert "ResourceNotFoundException" in errors[0]["exception"]


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_throttling_is_503_with_retry_after(invoke: Any, stubbed: Stubber, code: str) -> None:
    stubbed.add_client_error("get_item", service_error_code=code, http_status_code=400)

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 503
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == "The scheduler database is busy. Retry the request shortly."
    assert int(response["headers"]["Retry-After"]) >= 1


@pytest.mark.parametrize("code", ["InternalServerError", "AccessDeniedException"])
def test_other_database_errors_are_a_fixed_500(invoke: Any, stubbed: Stubber, logs: Any, code: str) -> None:
    stubbed.add_client_error("update_item", service_error_code=code, http_status_code=500)

    response = invoke(api_event("PATCH", body='{"is_paused": true}'))

    assert response["statusCode"] == 500
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert code not in response["body"]
    assert any(line.get("error_code") == code for line in logs())


def test_an_entry_of_the_wrong_shape_is_500_not_a_guess(invoke: Any, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE_NAME, Item={"pk": {"S": "scheduler"}, "is_paused": {"S": "false"}})

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 500
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert stored_item(dynamodb) == {"pk": {"S": "scheduler"}, "is_paused": {"S": "false"}}


class ErrorWithoutCode(Exception):
    """An error carrying a response without AWS's Error block (as some SDK errors do)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response: dict[str, Any] = {"ResponseMetadata": {}}


def test_an_error_without_an_aws_code_is_the_fixed_500_logged_without_a_code(
    invoke: Any, scheduler_entry: dict[str, Any], logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_service import store

    def fails() -> Any:
        raise ErrorWithoutCode("no code")

    monkeypatch.setattr(store, "read_state", fails)

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 500
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert "error_code" not in errors[0]  # no code: the key is left out, not the text "None"


def test_if_match_naming_no_version_has_its_exact_text(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": 'W/"1"'}))

    assert response["body"] == "If-Match names no version of the scheduler. GET it again for its ETag."
