"""The machine's local time zone never leaks into what is stored or served: times are UTC in the item,
GMT in Last-Modified, and If-Unmodified-Since compares in UTC (Lambda runs in UTC; a developer may not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import api_event, stored_item

CHANGED_AT = datetime(2026, 11, 29, 8, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def changed_at_eight(monkeypatch: pytest.MonkeyPatch, invoke: Any, scheduler_entry: Any) -> None:
    from scheduler_service import store

    monkeypatch.setattr(store, "clock", lambda: CHANGED_AT)
    assert invoke(api_event("PATCH", body='{"is_paused": true}'))["statusCode"] == 201
    monkeypatch.setattr(store, "clock", lambda: CHANGED_AT + timedelta(seconds=5))


@pytest.mark.usefixtures("tokyo", "changed_at_eight")
def test_updated_at_is_stored_in_utc_and_last_modified_served_in_gmt(invoke: Any, dynamodb: Any) -> None:
    item = stored_item(dynamodb)
    assert item is not None
    assert item["updated_at"] == {"S": "2026-11-29T08:00:00.250+00:00"}

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 200
    # The first whole second after the write (08:00:00.250), now that it has passed.
    assert response["headers"]["Last-Modified"] == "Sun, 29 Nov 2026 08:00:01 GMT"


@pytest.mark.usefixtures("tokyo", "changed_at_eight")
def test_if_unmodified_since_compares_in_utc(invoke: Any, dynamodb: Any) -> None:
    before = stored_item(dynamodb)

    earlier = invoke(
        api_event(
            "PATCH", body='{"is_paused": false}', headers={"If-Unmodified-Since": "Sun, 29 Nov 2026 07:00:00 GMT"}
        )
    )

    assert earlier["statusCode"] == 412
    assert stored_item(dynamodb) == before
    same_second = invoke(
        api_event(
            "PATCH", body='{"is_paused": false}', headers={"If-Unmodified-Since": "Sun, 29 Nov 2026 08:00:00 GMT"}
        )
    )
    assert same_second["statusCode"] == 412  # the write at 08:00:00.250 is not before 08:00:00
    assert stored_item(dynamodb) == before
    held = invoke(
        api_event(
            "PATCH", body='{"is_paused": false}', headers={"If-Unmodified-Since": "Sun, 29 Nov 2026 08:00:01 GMT"}
        )
    )
    assert held["statusCode"] == 201
