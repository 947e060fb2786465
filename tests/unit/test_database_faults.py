"""Database faults: a documented 5xx text/plain, a log line with the request id, never a hang until the
Lambda timeout, and the next request succeeds on the same (warm) client once the fault clears."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.conftest import api_event

FUNCTION_TIMEOUT_SECONDS = 10  # template.yaml Globals.Function.Timeout
LEAK_MARKERS = ("Traceback", "botocore", "Error(", "Exception", "timeout", "127.0.0.1")


@pytest.fixture
def unanswering_dynamodb(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback port that accepts connections and never answers: DynamoDB hanging mid-request."""
    from scheduler_service import store

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        store.dynamodb_client.cache_clear()
        yield endpoint
    store.dynamodb_client.cache_clear()


@pytest.fixture
def refusing_dynamodb(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from scheduler_service import store

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: connections are refused
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
    store.dynamodb_client.cache_clear()
    yield
    store.dynamodb_client.cache_clear()


@pytest.mark.usefixtures("unanswering_dynamodb")
@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_a_hanging_database_is_a_500_well_inside_the_function_timeout(invoke: Any, logs: Any, method: str) -> None:
    event = api_event(method, body='{"is_paused": true}' if method == "PATCH" else None)
    started = time.monotonic()

    response = invoke(event)

    # A deadline, not a benchmark: the bounded timeouts and retries must answer before Lambda kills us.
    assert time.monotonic() - started < FUNCTION_TIMEOUT_SECONDS
    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "text/plain"
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert any(
        line["level"] == "ERROR" and line["correlation_id"] == event["requestContext"]["requestId"] for line in logs()
    )


@pytest.mark.usefixtures("refusing_dynamodb")
def test_an_unreachable_database_is_a_500(invoke: Any, logs: Any) -> None:
    response = invoke(api_event("GET"))

    assert response["statusCode"] == 500
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert any(line["level"] == "ERROR" for line in logs())


@pytest.fixture
def stubbed(dynamodb: Any) -> Iterator[Stubber]:
    with Stubber(dynamodb) as stubber:
        yield stubber


GOOD_ITEM = {"pk": {"S": "scheduler"}, "is_paused": {"BOOL": True}, "version": {"N": "4"}}


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 503), ("InternalServerError", 500), ("AccessDeniedException", 500)],
)
def test_after_a_fault_clears_the_next_request_succeeds_on_the_warm_client(
    invoke: Any, stubbed: Stubber, logs: Any, code: str, status: int
) -> None:
    from scheduler_service import store

    stubbed.add_response("get_item", {"Item": GOOD_ITEM})
    stubbed.add_client_error("get_item", service_error_code=code, http_status_code=400)
    stubbed.add_response("get_item", {"Item": GOOD_ITEM})
    assert invoke(api_event("GET"))["statusCode"] == 200  # a first request: the container is warm
    client_before = store.dynamodb_client()

    failed = invoke(api_event("GET"))
    recovered = invoke(api_event("GET"))

    assert failed["statusCode"] == status
    assert recovered["statusCode"] == 200
    assert store.dynamodb_client() is client_before
    assert [line["cold_start"] for line in logs()][-1] is False
