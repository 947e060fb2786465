"""Only /scheduler and /scheduler/ exist; only GET and PATCH are allowed there."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import api_event, stored_item


@pytest.mark.parametrize("path", ["/", "/schedulers", "/scheduler/x", "/scheduler//", "/SCHEDULER/"])
def test_other_paths_are_404(invoke: Any, scheduler_entry: dict[str, Any], path: str) -> None:
    response = invoke(api_event("GET", path=path))

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "text/plain"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_405_with_allow_and_write_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], method: str
) -> None:
    response = invoke(api_event(method, body='{"is_paused": true}'))

    assert response["statusCode"] == 405
    assert {part.strip() for part in response["headers"]["Allow"].split(",")} == {"GET", "PATCH"}
    assert stored_item(dynamodb) == scheduler_entry
