"""Direct invocation (Step Functions, any AWS caller): {} reads, {"is_paused": bool} sets, "if_match" guards,
failures are exceptions whose names a state machine catches. Same rules as HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import stored_item, tag


def test_an_empty_payload_reads_the_state(invoke: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any) -> None:
    assert invoke({}) == {"is_paused": False, "etag": tag(1, False)}
    assert dynamodb_calls.operations == ["GetItem"]


@pytest.mark.parametrize("value", [True, False])
def test_is_paused_sets_the_switch(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], value: bool) -> None:
    assert invoke({"is_paused": value}) == {"is_paused": value, "etag": tag(2, value)}
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": value}


def test_an_execution_caller_is_recorded_as_step_functions(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:nightly-42"

    invoke({"is_paused": True, "caller": execution})

    item = stored_item(dynamodb)
    assert item is not None
    assert item["updated_by"] == {"S": f"stepfunctions:{execution}"}


@pytest.mark.parametrize(
    ("payload", "recorded"),
    [
        ({"is_paused": True, "caller": "nightly-pipeline"}, "direct:nightly-pipeline"),
        # A caller dressed as an IAM identity stays a direct caller's word.
        (
            {"is_paused": True, "caller": "arn:aws:iam::123456789012:user/admin"},
            "direct:arn:aws:iam::123456789012:user/admin",
        ),
        ({"is_paused": True}, "direct:unnamed"),
    ],
    ids=["named", "iam-lookalike", "unnamed"],
)
def test_a_direct_write_never_reads_as_an_iam_identity(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], payload: dict[str, Any], recorded: str
) -> None:
    invoke(payload)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["updated_by"] == {"S": recorded}


def test_if_match_with_the_current_etag_sets(invoke: Any, scheduler_entry: dict[str, Any]) -> None:
    etag = invoke({})["etag"]

    assert invoke({"is_paused": True, "if_match": etag})["is_paused"] is True


def test_a_stale_if_match_raises_precondition_failed_and_writes_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    from scheduler_service import errors

    stale = invoke({})["etag"]
    invoke({"is_paused": True})
    before = stored_item(dynamodb)

    with pytest.raises(errors.SchedulerPreconditionFailed) as raised:
        invoke({"is_paused": False, "if_match": stale})

    assert type(raised.value).__name__ == "SchedulerPreconditionFailed"
    assert stored_item(dynamodb) == before


def test_a_missing_entry_raises_scheduler_entry_missing(invoke: Any, dynamodb: Any) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.SchedulerEntryMissing):
        invoke({})
    with pytest.raises(errors.SchedulerEntryMissing):
        invoke({"is_paused": True})
    assert stored_item(dynamodb) is None


BAD_PAYLOADS: dict[str, tuple[Any, str]] = {
    "unexpected-fields": ({"is_paused": True, "node": 1, "when": "now"}, '"node", "when"'),
    "wrong-type": ({"is_paused": "yes"}, "true or false"),
    "null": ({"is_paused": None}, "true or false"),
    "not-an-object": ([True], "JSON object"),
    "string": ("pause", "JSON object"),
    "if-match-not-a-string": ({"is_paused": True, "if_match": 3}, "if_match"),
    "if-match-without-update": ({"if_match": '"1"'}, "if_match"),
    "caller-not-a-string": ({"is_paused": True, "caller": 7}, "caller"),
}


@pytest.mark.parametrize(("payload", "words"), BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_bad_payloads_raise_invalid_scheduler_update_and_write_nothing(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, payload: Any, words: str
) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.InvalidSchedulerUpdate) as raised:
        invoke(payload)

    assert words in str(raised.value)
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


def test_an_if_match_that_names_no_version_raises_precondition_failed(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.SchedulerPreconditionFailed):
        invoke({"is_paused": True, "if_match": "1"})

    assert stored_item(dynamodb) == scheduler_entry


def test_unexpected_faults_raise_a_generic_error_without_internals(invoke: Any, dynamodb: Any, logs: Any) -> None:
    from tests.conftest import TABLE_NAME

    dynamodb.delete_table(TableName=TABLE_NAME)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the point is which type it is not
        invoke({"is_paused": True})

    assert type(raised.value).__name__ == "SchedulerInternalError"
    assert "ResourceNotFound" not in str(raised.value)
    assert any("ResourceNotFoundException" in line.get("exception", "") for line in logs())


def test_the_execution_is_the_correlation_id(invoke: Any, scheduler_entry: dict[str, Any], logs: Any) -> None:
    invoke({"is_paused": True, "caller": "arn:aws:states:eu-west-1:1:execution:SetSchedulerPause:run-7"})

    assert {line.get("correlation_id") for line in logs()} == {
        "arn:aws:states:eu-west-1:1:execution:SetSchedulerPause:run-7"
    }


# Exact contract details (what a state machine's Catch and an operator read)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([True], 'The input must be a JSON object such as {"is_paused": true}.'),
        ({"is_paused": True, "if_match": 3}, 'Field "if_match" must be an ETag string such as "\\"3\\"".'),
        ({"if_match": '"1"'}, 'Field "if_match" only applies to an update: add "is_paused".'),
        ({"is_paused": True, "caller": ""}, 'Field "caller" must be a string of 1 to 512 characters.'),
        ({"is_paused": True, "caller": "c" * 513}, 'Field "caller" must be a string of 1 to 512 characters.'),
        (
            {"is_paused": True, "idempotency_key": ""},
            'Field "idempotency_key" must be a string of 1 to 255 characters.',
        ),
        ({"is_paused": True, "idempotency_key": 7}, 'Field "idempotency_key" must be a string of 1 to 255 characters.'),
        (
            {"is_paused": True, "idempotency_key": "k" * 256},
            'Field "idempotency_key" must be a string of 1 to 255 characters.',
        ),
    ],
    ids=[
        "not-object",
        "if-match-type",
        "if-match-alone",
        "empty-caller",
        "long-caller",
        "empty-key",
        "key-type",
        "long-key",
    ],
)
def test_a_bad_direct_payload_is_refused_with_its_exact_reason_and_no_io(
    invoke: Any, dynamodb: Any, dynamodb_calls: Any, scheduler_entry: dict[str, Any], payload: Any, message: str
) -> None:
    from scheduler_service import errors

    dynamodb_calls.operations.clear()

    with pytest.raises(errors.InvalidSchedulerUpdate) as raised:
        invoke(payload)

    assert str(raised.value) == message
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.parametrize(
    ("caller", "key"),
    [("c" * 512, "k"), ("c", "k" * 255), ("c", "k")],
    ids=["longest-caller", "longest-key", "shortest"],
)
def test_the_longest_caller_and_key_and_the_shortest_are_accepted(
    invoke: Any, scheduler_entry: dict[str, Any], caller: str, key: str
) -> None:
    assert invoke({"is_paused": True, "caller": caller, "idempotency_key": key})["is_paused"] is True


def test_a_key_is_scoped_to_its_direct_caller(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    invoke({"is_paused": True, "caller": "pipeline-a", "idempotency_key": "shared"})
    invoke({"is_paused": True, "caller": "pipeline-b", "idempotency_key": "shared"})

    item = stored_item(dynamodb)
    assert item is not None
    assert item["version"] == {"N": "3"}  # two writes: the second is not a replay of the first


def test_the_internal_error_names_nothing_but_the_log(
    invoke: Any, scheduler_entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_service import errors, store

    def broken() -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "read_state", broken)

    with pytest.raises(errors.SchedulerInternalError) as raised:
        invoke({})
    assert str(raised.value) == "Internal error: the function log has the details."


def test_a_missing_entry_is_named_in_the_message(invoke: Any, dynamodb: Any) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.SchedulerEntryMissing) as raised:
        invoke({"is_paused": True})
    assert str(raised.value) == "The scheduler entry is missing from the database."


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("if_match", "message"),
    [
        (tag(7, False), f"the scheduler is at version 1 ({tag(1, False)})"),
        (f"W/{tag(1, False)}", "no version of the scheduler was named"),
    ],
    ids=["another-version", "no-version"],
)
def test_a_failed_precondition_tells_the_state_machine_why(invoke: Any, if_match: str, message: str) -> None:
    from scheduler_service import errors

    # Step Functions shows this message as the error's cause.
    with pytest.raises(errors.SchedulerPreconditionFailed) as raised:
        invoke({"is_paused": True, "if_match": if_match})

    assert str(raised.value) == message
