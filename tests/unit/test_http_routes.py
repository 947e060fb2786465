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


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405_with_allow_and_write_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], method: str
) -> None:
    response = invoke(api_event(method, body='{"is_paused": true}'))

    assert response["statusCode"] == 405
    assert {part.strip() for part in response["headers"]["Allow"].split(",")} == {"GET", "HEAD", "PATCH"}
    assert stored_item(dynamodb) == scheduler_entry


def test_a_path_the_gateway_did_not_match_to_scheduler_is_404_whatever_the_resource(
    invoke: Any, scheduler_entry: dict[str, Any]
) -> None:
    event = api_event("GET")
    event["path"] = "/other"  # an event edited by hand: the path decides

    assert invoke(event)["statusCode"] == 404


def test_a_custom_domain_base_path_reaches_the_scheduler(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    event = api_event("GET")
    event["path"] = "/control/scheduler/"  # base path mapping "control"; the gateway matched /scheduler

    assert invoke(event)["statusCode"] == 200
