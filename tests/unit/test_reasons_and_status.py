"""A reason on every change (the Scheduler-Reason header, the direct "reason"), stored by the change's own
UpdateItem, and the status view (GET/HEAD /scheduler/status): who, when, through what, why, the windows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, stored_item, tag

PAUSE = '{"is_paused": true}'
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:nightly-42"


def patch(invoke: Any, reason: str | None, body: str = PAUSE) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Scheduler-Reason": reason} if reason is not None else {})}
    answer: dict[str, Any] = invoke(api_event("PATCH", body=body, headers=headers))
    return answer


def status(invoke: Any, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = invoke(api_event("GET", path="/scheduler/status", headers=headers))
    return answer


# --- the reason --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "stored"),
    [
        ("deploy 2026.12.1: schema migration", "deploy 2026.12.1: schema migration"),
        ("caf%C3%A9 %E2%9C%93", "café ✓"),  # percent-encoded UTF-8
        ("50%25 rolled out", "50% rolled out"),
        ("x" * 256, "x" * 256),
        ("%F0%9F%9A%A7" * 256, "🚧" * 256),  # 256 characters, 1,024 bytes of UTF-8
    ],
    ids=["ascii", "utf-8", "percent", "256-ascii", "256-emoji"],
)
def test_a_reason_is_stored_by_the_write_itself_in_one_round_trip(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, header: str, stored: str
) -> None:
    answer = patch(invoke, header)

    assert answer["statusCode"] == 201
    assert json.loads(answer["body"]) == {"is_paused": True}  # the body is still exactly the spec's
    assert dynamodb_calls.operations == ["UpdateItem"]
    item = stored_item(dynamodb)
    assert item is not None
    assert item["reason"] == {"S": stored}


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("x" * 257, "257 characters long; at most 256"),
        ("%F0%9F%9A%A7" * 257, "257 characters long"),
        ("two%0Alines", "control character"),
        ("tab%09inside", "control character"),
        ("nul%00", "control character"),
        ("%FF%FE", "not percent-encoded UTF-8"),
    ],
    ids=["257-ascii", "257-emoji", "newline", "tab", "nul", "not-utf-8"],
)
def test_a_reason_too_long_or_with_a_control_character_is_400_and_nothing_is_written(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, header: str, says: str
) -> None:
    answer = patch(invoke, header)

    assert answer["statusCode"] == 400
    assert answer["headers"]["Content-Type"] == "text/plain"
    assert says in answer["body"]
    assert "Scheduler-Reason" in answer["body"]
    assert dynamodb_calls.operations == []  # judged before any I/O
    assert stored_item(dynamodb) == scheduler_entry


def test_a_change_without_a_reason_clears_the_last_ones(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    patch(invoke, "the migration")
    patch(invoke, None, '{"is_paused": false}')

    item = stored_item(dynamodb)
    assert item is not None
    assert item["reason"] == {"S": ""}  # never a stale reason shown for a later change


def test_the_direct_contract_takes_a_reason(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    assert invoke({"is_paused": True, "reason": "nightly load", "caller": EXECUTION}) == {
        "is_paused": True,
        "etag": tag(2, True),
    }

    item = stored_item(dynamodb)
    assert item is not None
    assert item["reason"] == {"S": "nightly load"}


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"is_paused": True, "reason": 7}, 'Field "reason" must be a string'),
        ({"is_paused": True, "reason": "a\nb"}, 'Field "reason" holds a control character'),
        ({"is_paused": True, "reason": "r" * 257}, 'Field "reason" is 257 characters long'),
        ({"reason": "why"}, 'Field "reason" only applies to an update'),
    ],
)
def test_a_bad_direct_reason_is_refused_and_nothing_is_written(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], event: dict[str, Any], says: str
) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.InvalidSchedulerUpdate, match=says):
        invoke(event)

    assert stored_item(dynamodb) == scheduler_entry


def test_a_window_states_its_reason_on_each_step(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    invoke({"action": "open_window", "caller": EXECUTION, "wait_seconds": 60, "reason": "maintenance window n-42"})

    item = stored_item(dynamodb)
    assert item is not None
    assert (item["is_paused"], item["reason"]) == ({"BOOL": True}, {"S": "maintenance window n-42"})


# --- the status view -----------------------------------------------------------------------------------------


def test_the_status_view_says_who_when_through_what_why_and_which_windows(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any
) -> None:
    invoke({"action": "open_window", "caller": EXECUTION, "wait_seconds": 600, "reason": "maintenance window n-42"})
    item = stored_item(dynamodb)
    assert item is not None
    dynamodb_calls.operations.clear()

    answer = status(invoke)

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["headers"]["ETag"] == tag(2, True)  # the same tag /scheduler/ serves
    expires_at = int(item["leases"]["M"][EXECUTION]["N"])
    from datetime import UTC, datetime

    assert json.loads(answer["body"]) == {
        "is_paused": True,
        "etag": tag(2, True),
        "version": 2,
        "updated_at": item["updated_at"]["S"],
        "updated_by": f"stepfunctions:{EXECUTION}",
        "via": "state machine",
        "reason": "maintenance window n-42",
        "windows": [
            {
                "name": "nightly-42",
                "execution": EXECUTION,
                "until": datetime.fromtimestamp(expires_at, UTC).isoformat(),
            }
        ],
        "stage": "local",
    }
    assert dynamodb_calls.operations == ["GetItem"]


def test_an_operators_change_through_the_api_reads_as_such(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    patch(invoke, "by hand")

    document = json.loads(status(invoke)["body"])

    assert (document["via"], document["reason"], document["windows"]) == ("api", "by hand", [])
    assert document["updated_by"].startswith("arn:aws:")


def test_the_status_view_is_conditional_like_the_resource(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    assert status(invoke, **{"If-None-Match": tag(1, False)})["statusCode"] == 304
    assert status(invoke, **{"If-None-Match": tag(7, False)})["statusCode"] == 200
    head = invoke(api_event("HEAD", path="/scheduler/status"))
    get = status(invoke)
    assert (head["statusCode"], head["body"]) == (200, "")
    assert head["headers"]["Content-Length"] == str(len(get["body"].encode()))
    assert invoke(api_event("GET", path="/scheduler/status/"))["statusCode"] == 200


def test_the_status_view_can_only_be_read(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    answer = invoke(api_event("PATCH", path="/scheduler/status", body=PAUSE))

    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == "GET, HEAD"
    assert answer["body"] == 'Method "PATCH" is not allowed here. Use GET or HEAD.'
    assert stored_item(dynamodb) == scheduler_entry


def test_the_status_view_of_a_missing_entry_is_the_fixed_500(invoke: Any, dynamodb: Any) -> None:
    answer = status(invoke)

    assert (answer["statusCode"], answer["headers"]["Content-Type"]) == (500, "text/plain")
