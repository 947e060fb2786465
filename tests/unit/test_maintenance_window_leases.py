"""Maintenance windows hold leases on the pause: the rules (pure) and the direct-invoke contract that the
MaintenanceWindow state machine drives (open_window, close_window)."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler_service.errors import InvalidMaintenanceWindow
from scheduler_service.windows import LeasePlan, parse_wait_seconds, plan_close, plan_open
from tests.conftest import stored_item

NOW = 1_000_000
A = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:a"
B = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:b"


# The rules


def test_opening_on_a_running_scheduler_pauses_under_the_windows_lease() -> None:
    assert plan_open(A, is_paused=False, leases={}, now=NOW, expires_at=NOW + 60) == LeasePlan(
        "paused", {A: NOW + 60}, True
    )


def test_opening_on_a_running_scheduler_drops_stale_leases() -> None:
    plan = plan_open(A, is_paused=False, leases={B: NOW + 999}, now=NOW, expires_at=NOW + 60)

    assert plan.leases == {A: NOW + 60}


def test_opening_on_a_pause_windows_hold_joins_them_and_drops_expired_leases() -> None:
    plan = plan_open(A, is_paused=True, leases={B: NOW + 5, "old": NOW}, now=NOW, expires_at=NOW + 60)

    assert plan == LeasePlan("joined", {B: NOW + 5, A: NOW + 60}, True)


def test_opening_on_a_pause_made_by_hand_takes_no_lease_and_writes_nothing() -> None:
    assert plan_open(A, is_paused=True, leases={}, now=NOW, expires_at=NOW + 60) == LeasePlan(
        "already_paused", {}, None
    )


def test_closing_the_last_lease_resumes() -> None:
    assert plan_close(A, is_paused=True, leases={A: NOW + 60}, now=NOW) == LeasePlan("resumed", {}, False)


def test_closing_while_another_unexpired_lease_holds_keeps_the_pause() -> None:
    assert plan_close(A, is_paused=True, leases={A: NOW + 60, B: NOW + 1}, now=NOW) == LeasePlan(
        "held_by_other_window", {B: NOW + 1}, True
    )


def test_a_lease_expiring_now_no_longer_holds() -> None:
    assert plan_close(A, is_paused=True, leases={A: NOW + 60, B: NOW}, now=NOW).outcome == "resumed"


def test_closing_without_the_windows_lease_leaves_the_switch_alone() -> None:
    assert plan_close(A, is_paused=False, leases={}, now=NOW) == LeasePlan("changed_during_window", {}, None)
    assert plan_close(A, is_paused=True, leases={B: NOW + 9}, now=NOW).is_paused is None


def test_closing_a_lease_on_a_running_scheduler_only_drops_it() -> None:
    assert plan_close(A, is_paused=False, leases={A: NOW + 9, B: NOW + 9}, now=NOW) == LeasePlan(
        "changed_during_window", {B: NOW + 9}, False
    )


@pytest.mark.parametrize("seconds", [0, 1, 3600, 86_400])
def test_whole_seconds_up_to_the_maximum_are_a_window(seconds: int) -> None:
    assert parse_wait_seconds(seconds, 86_400) == seconds


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-1, "-1"),
        (86_401, "86401"),
        (0.5, "0.5"),
        (10.0, "10.0"),
        ("10", '"10"'),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_anything_else_is_an_invalid_window_naming_the_value(value: Any, shown: str) -> None:
    with pytest.raises(InvalidMaintenanceWindow) as raised:
        parse_wait_seconds(value, 86_400)

    assert str(raised.value) == f'"wait_seconds" must be a whole number of seconds from 0 to 86400, not {shown}.'


# The direct-invoke contract


@pytest.mark.usefixtures("scheduler_entry")
def test_open_answers_the_lease_and_stores_it(invoke: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler_service import store

    answer = invoke({"action": "open_window", "wait_seconds": 60, "caller": A})

    assert answer["outcome"] == "paused"
    assert answer["is_paused"] is True
    assert answer["holds_lease"] is True
    expires = answer["lease_expires_at"]
    assert expires == pytest.approx(store.clock().timestamp() + 60 + 900, abs=5)
    item = stored_item(dynamodb)
    assert item is not None
    assert item["leases"] == {"M": {A: {"N": str(expires)}}}
    assert item["updated_by"] == {"S": f"stepfunctions:{A}"}


@pytest.mark.usefixtures("scheduler_entry")
def test_a_write_by_hand_clears_every_lease(invoke: Any, dynamodb: Any) -> None:
    invoke({"action": "open_window", "wait_seconds": 60, "caller": A})
    invoke({"action": "open_window", "wait_seconds": 60, "caller": B})

    invoke({"is_paused": False, "caller": "operator"})

    item = stored_item(dynamodb)
    assert item is not None
    assert "leases" not in item
    assert invoke({"action": "close_window", "caller": A})["outcome"] == "changed_during_window"
    assert invoke({"action": "close_window", "caller": B})["outcome"] == "changed_during_window"


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("action", ["open_window", "close_window"])
def test_a_window_step_whose_answer_is_lost_is_done_once(
    invoke: Any, dynamodb: Any, lose_answers: Any, action: str
) -> None:
    if action == "close_window":
        invoke({"action": "open_window", "wait_seconds": 0, "caller": A})
    faults = lose_answers("UpdateItem", 1)
    payload = {"action": action, "caller": A, **({"wait_seconds": 0} if action == "open_window" else {})}

    answer = invoke(payload)

    assert faults.lost == 1
    assert answer["outcome"] == ("paused" if action == "open_window" else "resumed")
    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "2" if action == "open_window" else "3"}


@pytest.mark.usefixtures("scheduler_entry")
def test_a_window_step_sent_again_with_its_key_is_answered_as_the_first(invoke: Any, dynamodb: Any) -> None:
    payload = {"action": "open_window", "wait_seconds": 0, "caller": A, "idempotency_key": "OpenWindow@t"}

    first = invoke(payload)
    again = invoke(payload)

    assert first == again
    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "2"}


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"action": "reopen", "caller": A}, '"action" must be one of open_window, close_window.'),
        (
            {"action": "close_window", "caller": A, "is_paused": False},
            '"action" must be one of open_window, close_window; unexpected fields: is_paused.',
        ),
        (
            {"action": "open_window", "wait_seconds": 5},
            'A maintenance window needs "caller": the execution that holds it.',
        ),
        (
            {"action": "open_window", "caller": A},
            '"wait_seconds" must be a whole number of seconds from 0 to 86400, not null.',
        ),
    ],
    ids=["unknown-action", "extra-field", "no-caller", "no-wait"],
)
def test_a_bad_window_step_is_refused_before_any_io(
    invoke: Any, dynamodb: Any, dynamodb_calls: Any, scheduler_entry: dict[str, Any], payload: Any, message: str
) -> None:
    dynamodb_calls.operations.clear()

    with pytest.raises(InvalidMaintenanceWindow) as raised:
        invoke(payload)

    assert str(raised.value) == message
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.usefixtures("scheduler_entry")
def test_a_window_gives_up_after_bounded_conflicts(invoke: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler_service import errors, store

    attempts: list[int] = []
    real_update = store._update

    def someone_always_writes_first(expression: str, condition: str, values: Any, write: Any) -> Any:
        if ":read_version" in values:  # a window's write, planned on a read: an operator writes in between
            attempts.append(1)
            store.write_pause(False, store.WriteRequest("busy-operator", f"t-{len(attempts)}", "r"))
        return real_update(expression, condition, values, write)

    monkeypatch.setattr(store, "_update", someone_always_writes_first)

    with pytest.raises(errors.SchedulerInternalError):
        invoke({"action": "open_window", "wait_seconds": 0, "caller": A})
    assert len(attempts) == 5  # docs/step-functions.md: "at most 5 tries against other writers"


# Each window outcome through the direct-invoke contract (the state machine tests drive the same calls)


@pytest.mark.usefixtures("scheduler_entry")
def test_two_windows_keep_the_pause_until_both_closed(invoke: Any, dynamodb: Any) -> None:
    assert invoke({"action": "open_window", "wait_seconds": 60, "caller": A})["outcome"] == "paused"
    assert invoke({"action": "open_window", "wait_seconds": 60, "caller": B})["outcome"] == "joined"

    assert invoke({"action": "close_window", "caller": A})["outcome"] == "held_by_other_window"
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}
    assert list(item["leases"]["M"]) == [B]
    closed = invoke({"action": "close_window", "caller": B})
    assert (closed["outcome"], closed["is_paused"]) == ("resumed", False)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_window_opened_on_a_pause_by_hand_holds_no_lease(invoke: Any, dynamodb: Any) -> None:
    invoke({"is_paused": True, "caller": "operator"})
    before = stored_item(dynamodb)

    opened = invoke({"action": "open_window", "wait_seconds": 60, "caller": A})

    assert (opened["outcome"], opened["holds_lease"], opened["lease_expires_at"]) == ("already_paused", False, None)
    assert stored_item(dynamodb) == before


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("second", ["joined", "held_by_other_window"])
def test_a_window_step_sent_again_reports_what_it_did(invoke: Any, second: str) -> None:
    invoke({"action": "open_window", "wait_seconds": 60, "caller": A})
    if second == "joined":
        step = {"action": "open_window", "wait_seconds": 60, "caller": B, "idempotency_key": "OpenWindow@1"}
    else:
        invoke({"action": "open_window", "wait_seconds": 60, "caller": B})
        step = {"action": "close_window", "caller": A, "idempotency_key": "CloseWindow@1"}

    first, again = invoke(step), invoke(step)

    assert first["outcome"] == again["outcome"] == second


@pytest.mark.usefixtures("scheduler_entry")
def test_a_window_that_pauses_counts_one_flip_even_when_sent_again(
    invoke: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    step = {"action": "open_window", "wait_seconds": 0, "caller": A, "idempotency_key": "OpenWindow@1"}

    invoke(step)
    invoke(step)

    assert capsys.readouterr().out.count('"PauseStateChanged":[1.0]') == 1


@pytest.mark.usefixtures("scheduler_entry")
def test_close_takes_no_wait_seconds_and_lists_every_unexpected_field(invoke: Any) -> None:
    with pytest.raises(InvalidMaintenanceWindow) as raised:
        invoke({"action": "close_window", "caller": A, "wait_seconds": 5, "extra": 1})

    assert (
        str(raised.value)
        == '"action" must be one of open_window, close_window; unexpected fields: extra, wait_seconds.'
    )


@pytest.mark.usefixtures("scheduler_entry")
def test_the_longest_window_is_the_deploys_parameter(invoke: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_WINDOW_SECONDS", "10")

    with pytest.raises(InvalidMaintenanceWindow) as raised:
        invoke({"action": "open_window", "wait_seconds": 11, "caller": A})

    assert str(raised.value) == '"wait_seconds" must be a whole number of seconds from 0 to 10, not 11.'
    assert invoke({"action": "open_window", "wait_seconds": 10, "caller": A})["outcome"] == "paused"
