"""AWS IoT Core's data plane for the unit tests: botocore's own ``iot-data`` client (so every request is built,
serialised and its answer parsed by botocore, as on AWS), answered in memory by the local stack's stand-in
(local_stack.iot_data.answer) instead of the network, with faults on demand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from local_stack.iot_data import InMemoryStore, answer

TOPIC = "scheduler-control/test/pause"
ENDPOINT = "https://example-ats.iot.eu-west-1.amazonaws.com"


class FakeIotDataPlane:
    """``store`` holds the retained messages; ``fail_publishes(n)`` answers the next n publishes 503 without
    taking them; ``lose_publish_answers(n)`` takes the next n publishes, then loses their answers (a read
    timeout), as a network that drops the response would."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.requests: list[tuple[str, str]] = []
        self._refused = 0
        self._answers_lost = 0

    def fail_publishes(self, count: int) -> None:
        self._refused = count

    def lose_publish_answers(self, count: int) -> None:
        self._answers_lost = count

    def retained_payload(self) -> bytes | None:
        held = self.store.retained(TOPIC)
        return held.payload if held is not None else None

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import ReadTimeoutError

        parts = urlsplit(request.url)
        self.requests.append((request.method, parts.path))
        publishing = request.method == "POST"
        if publishing and self._refused:
            self._refused -= 1
            return _response(
                503, b'{"message": "Service Unavailable"}', {"x-amzn-ErrorType": "ServiceUnavailableException"}
            )
        result = answer(self.store, request.method, parts.path, parts.query, request.body or b"")
        if publishing and self._answers_lost:
            self._answers_lost -= 1
            raise ReadTimeoutError(endpoint_url=request.url)
        return AWSResponse(request.url, result.status, _headers(result.headers), _Raw(result.body))


def _response(status: int, body: bytes, headers: dict[str, str]) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse("", status, _headers({"Content-Type": "application/json", **headers}), _Raw(body))


class _Raw:
    """The raw stream botocore reads an answer's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def _headers(headers: dict[str, str]) -> Any:
    from botocore.compat import HTTPHeaders

    parsed = HTTPHeaders()
    for name, value in headers.items():
        parsed[name] = value
    return parsed
