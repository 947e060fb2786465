"""The deploy-time custom resource: creates the entry if missing, never overwrites it, never deletes it,
and always answers CloudFormation — here a local HTTP server stands in for the pre-signed response URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.response_url import ResponseRecorder
from tests.conftest import EVENTS_DIR, TABLE_NAME, stored_item


class ResponseUrl(ResponseRecorder):
    """A loopback server that records the PUTs CloudFormation would receive (make invoke's own)."""

    def only_answer(self) -> dict[str, Any]:
        assert len(self.received) == 1
        answer: dict[str, Any] = self.received[0]
        return answer


@pytest.fixture
def response_url() -> Iterator[ResponseUrl]:
    endpoint = ResponseUrl()
    yield endpoint
    endpoint.close()


def cfn_event(kind: str, response_url: ResponseUrl) -> dict[str, Any]:
    """The sample event, answering to the local server, for the test table (the same table before and after)."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / "cloudformation" / f"{kind}.json").read_text())
    event["ResponseURL"] = response_url.url
    for properties in ("ResourceProperties", "OldResourceProperties"):
        if properties in event:
            event[properties]["TableName"] = TABLE_NAME
    return event


def run(event: dict[str, Any], lambda_context: Any) -> None:
    from scheduler_service import entry_resource

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


# A table replacement (or a re-created stack) never un-pauses the fleet.

OLD_TABLE = "scheduler-test-old"


@pytest.fixture
def old_table(dynamodb: Any) -> str:
    from local_stack.template import create_table

    create_table(dynamodb, OLD_TABLE)
    return OLD_TABLE


def replaced_table_event(response_url: ResponseUrl, old_table: str) -> dict[str, Any]:
    """CloudFormation's Update after the table was replaced: the old and the new table names (the new one is
    the test table)."""
    event = cfn_event("update-table-replaced", response_url)
    event["OldResourceProperties"]["TableName"] = old_table
    return event


NAMED_TABLE = "scheduler-test-named"


@pytest.fixture
def named_table(dynamodb: Any) -> str:
    """A table the event names, other than the function's TABLE_NAME: the event's TableName is the one served."""
    from local_stack.template import create_table

    create_table(dynamodb, NAMED_TABLE)
    return NAMED_TABLE


def entry_in(dynamodb: Any, table: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "scheduler"}}, ConsistentRead=True
    ).get("Item")
    return item


def put_old_entry(dynamodb: Any, is_paused: bool, version: int) -> None:
    dynamodb.put_item(
        TableName=OLD_TABLE,
        Item={"pk": {"S": "scheduler"}, "is_paused": {"BOOL": is_paused}, "version": {"N": str(version)}},
    )


@pytest.mark.parametrize("is_paused", [True, False])
def test_a_replaced_table_carries_the_switch_over_and_continues_the_version(
    dynamodb: Any, old_table: str, response_url: ResponseUrl, lambda_context: Any, is_paused: bool
) -> None:
    put_old_entry(dynamodb, is_paused, 41)

    run(replaced_table_event(response_url, old_table), lambda_context)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": is_paused}
    assert item["version"] == {"N": "42"}
    assert item["updated_by"] == {"S": f"cloudformation:carried-over-from:{OLD_TABLE}"}
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert f"carried over from {OLD_TABLE}" in answer["Reason"]


@pytest.mark.parametrize("old_state", ["no-entry", "no-table", "corrupt"])
def test_when_the_old_table_cannot_be_read_the_entry_is_created_paused_and_the_reason_says_so(
    dynamodb: Any, old_table: str, response_url: ResponseUrl, lambda_context: Any, logs: Any, old_state: str
) -> None:
    if old_state == "no-table":
        dynamodb.delete_table(TableName=OLD_TABLE)
    if old_state == "corrupt":
        dynamodb.put_item(TableName=OLD_TABLE, Item={"pk": {"S": "scheduler"}, "is_paused": {"S": "yes"}})

    run(replaced_table_event(response_url, old_table), lambda_context)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}
    assert item["updated_by"] == {"S": "cloudformation:fail-closed"}
    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert answer["Reason"].startswith("Scheduler entry created PAUSED")
    assert OLD_TABLE in answer["Reason"]
    assert any("creating the entry PAUSED" in line["message"] for line in logs())


def test_a_replacement_never_overwrites_an_entry_the_new_table_already_has(
    dynamodb: Any, old_table: str, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    put_old_entry(dynamodb, True, 5)

    run(replaced_table_event(response_url, old_table), lambda_context)

    assert stored_item(dynamodb) == scheduler_entry
    assert response_url.only_answer()["Reason"] == "Scheduler entry kept as it was."


def test_a_re_created_stack_carries_over_from_the_table_it_is_given(
    dynamodb: Any, old_table: str, response_url: ResponseUrl, lambda_context: Any
) -> None:
    put_old_entry(dynamodb, True, 8)
    event = cfn_event("create", response_url)
    event["ResourceProperties"]["CarryOverFromTable"] = old_table

    run(event, lambda_context)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}
    assert item["version"] == {"N": "9"}


NO_ENTRY_YET = {
    # A new stack's new table: the service starts running.
    "create": (False, "cloudformation", "Scheduler entry created, not paused."),
    # The stack's own table lost its entry: the fleet fails closed now, and a deploy must not un-pause it.
    "update": (
        True,
        "cloudformation:fail-closed",
        "Scheduler entry was missing and is created PAUSED. Find its last state in the audit log, then resume it "
        "by hand.",
    ),
}


@pytest.mark.parametrize(("request_type", "outcome"), NO_ENTRY_YET.items(), ids=NO_ENTRY_YET.keys())
def test_a_create_starts_not_paused_and_an_update_that_finds_no_entry_fails_closed(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any, request_type: str, outcome: tuple[bool, str, str]
) -> None:
    is_paused, updated_by, reason = outcome

    run(cfn_event(request_type, response_url), lambda_context)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": is_paused}
    assert item["updated_by"] == {"S": updated_by}
    answer = response_url.only_answer()
    assert (answer["Status"], answer["Reason"]) == ("SUCCESS", reason)


@pytest.mark.parametrize(
    ("old_state", "reason"),
    [("readable", "Scheduler entry carried over"), ("unreadable", "Scheduler entry created PAUSED")],
)
def test_a_creation_whose_answer_is_lost_is_still_reported_as_made(
    dynamodb: Any,
    old_table: str,
    response_url: ResponseUrl,
    lambda_context: Any,
    lose_answers: Any,
    old_state: str,
    reason: str,
) -> None:
    if old_state == "readable":
        put_old_entry(dynamodb, True, 3)
    faults = lose_answers("PutItem", 1)

    run(replaced_table_event(response_url, old_table), lambda_context)

    assert faults.lost == 1
    assert response_url.only_answer()["Reason"].startswith(reason)
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}


@pytest.mark.parametrize(("request_type", "outcome"), NO_ENTRY_YET.items(), ids=NO_ENTRY_YET.keys())
def test_a_creation_on_create_or_update_whose_answer_is_lost_says_created(
    dynamodb: Any,
    response_url: ResponseUrl,
    lambda_context: Any,
    lose_answers: Any,
    request_type: str,
    outcome: tuple[bool, str, str],
) -> None:
    lose_answers("PutItem", 1)

    run(cfn_event(request_type, response_url), lambda_context)

    assert response_url.only_answer()["Reason"] == outcome[2]


# How the answer reaches CloudFormation


class CapturedPut:
    """Stands in for urllib's urlopen: records the request, answers 200 (CloudFormation's URLs are https S3
    URLs, which a local test server cannot be)."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.timeouts: list[float] = []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.requests.append(request)
        self.timeouts.append(timeout)

        class Answer:
            status = 200

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *args: Any) -> None:
                pass

        return Answer()


@pytest.fixture
def captured_put(monkeypatch: pytest.MonkeyPatch) -> CapturedPut:
    import urllib.request

    captured = CapturedPut()
    monkeypatch.setattr(urllib.request, "urlopen", captured)
    return captured


def https_create_event() -> dict[str, Any]:
    """The sample Create request as CloudFormation sends it (its https ResponseURL kept), for the test table."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / "cloudformation" / "create.json").read_text())
    event["ResourceProperties"]["TableName"] = TABLE_NAME
    return event


@pytest.mark.usefixtures("dynamodb")
def test_the_https_response_url_cloudformation_gives_is_answered_with_a_put(
    captured_put: CapturedPut, lambda_context: Any
) -> None:
    from scheduler_service import entry_resource

    event = https_create_event()

    entry_resource.handler(event, lambda_context)

    (request,) = captured_put.requests
    assert request.full_url == event["ResponseURL"]
    assert request.full_url.startswith("https://")
    assert request.get_method() == "PUT"
    assert json.loads(request.data)["Status"] == "SUCCESS"


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize("url", [None, "", "ftp://example.com/answer", "file:///etc/passwd"])
def test_a_missing_or_unusable_response_url_is_logged_and_nothing_is_sent(
    captured_put: CapturedPut, lambda_context: Any, logs: Any, url: str | None
) -> None:
    from scheduler_service import entry_resource

    event = https_create_event()
    if url is None:
        del event["ResponseURL"]
    else:
        event["ResponseURL"] = url

    entry_resource.handler(event, lambda_context)  # no exception: Lambda must not retry it

    assert captured_put.requests == []
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert [line["message"] for line in errors] == ["No usable ResponseURL in the event"]
    assert errors[0]["response_url"] == (url or "")


def test_a_failed_reason_is_the_error_cut_at_500_characters_then_the_log_stream(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_service import store

    def fails(**_: Any) -> bool:
        raise RuntimeError("x" * 600)

    monkeypatch.setattr(store, "create_if_missing", fails)

    run(cfn_event("create", response_url), lambda_context)

    reason = response_url.only_answer()["Reason"]
    assert reason == ("RuntimeError: " + "x" * 600)[:500] + f" (log stream {lambda_context.log_stream_name})"
    assert [line["message"] for line in logs() if line["level"] == "ERROR"] == ["Custom resource failed"]


def test_a_failed_reason_without_a_log_stream_is_the_error_alone(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lambda_context.log_stream_name = ""
    event = cfn_event("create", response_url)
    event["RequestType"] = "Rename"

    run(event, lambda_context)

    assert response_url.only_answer()["Reason"] == "ValueError: unknown RequestType 'Rename'"


@pytest.mark.parametrize("kind", ["create", "update", "replacement"])
def test_the_entry_goes_into_the_table_the_event_names(
    dynamodb: Any, old_table: str, named_table: str, response_url: ResponseUrl, lambda_context: Any, kind: str
) -> None:
    if kind == "replacement":
        put_old_entry(dynamodb, True, 4)
        event = replaced_table_event(response_url, old_table)
    else:
        event = cfn_event(kind, response_url)
        event.get("OldResourceProperties", {})["TableName"] = named_table
    event["ResourceProperties"]["TableName"] = named_table

    run(event, lambda_context)

    created = entry_in(dynamodb, named_table)
    assert created is not None
    assert created["is_paused"] == {"BOOL": kind != "create"}
    assert stored_item(dynamodb) is None  # not the function's own TABLE_NAME


def test_a_replacement_that_cannot_read_the_old_table_creates_paused_in_the_new_one(
    dynamodb: Any, named_table: str, response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = replaced_table_event(response_url, "scheduler-test-gone")
    event["ResourceProperties"]["TableName"] = named_table

    run(event, lambda_context)

    created = entry_in(dynamodb, named_table)
    assert created is not None
    assert created["is_paused"] == {"BOOL": True}
    assert response_url.only_answer()["Reason"] == (
        "Scheduler entry created PAUSED: the entry of the previous table scheduler-test-gone could not be read "
        "(ResourceNotFoundException). Check the fleet, then resume it by hand."
    )


@pytest.mark.parametrize(("is_paused", "words"), [(True, "paused"), (False, "not paused")])
def test_the_carry_over_reason_says_what_was_carried(
    dynamodb: Any, old_table: str, response_url: ResponseUrl, lambda_context: Any, is_paused: bool, words: str
) -> None:
    put_old_entry(dynamodb, is_paused, 41)

    run(replaced_table_event(response_url, old_table), lambda_context)

    assert response_url.only_answer()["Reason"] == (
        f"Scheduler entry carried over from {OLD_TABLE}: {words}, version 42."
    )


def test_the_old_table_is_read_strongly_consistent(
    dynamodb: Any, old_table: str, response_url: ResponseUrl, lambda_context: Any
) -> None:
    reads: list[dict[str, Any]] = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params))
    put_old_entry(dynamodb, True, 1)

    run(replaced_table_event(response_url, old_table), lambda_context)

    assert [(read["TableName"], read.get("ConsistentRead")) for read in reads] == [(OLD_TABLE, True)]


@pytest.mark.parametrize("old_state", ["readable", "unreadable"])
def test_a_fail_closed_or_carried_entry_never_overwrites_one_the_new_table_has(
    dynamodb: Any,
    old_table: str,
    scheduler_entry: dict[str, Any],
    response_url: ResponseUrl,
    lambda_context: Any,
    old_state: str,
) -> None:
    if old_state == "readable":
        put_old_entry(dynamodb, True, 5)

    run(replaced_table_event(response_url, old_table), lambda_context)

    assert stored_item(dynamodb) == scheduler_entry
    assert response_url.only_answer()["Reason"] == "Scheduler entry kept as it was."


def test_another_create_request_finds_the_entry_kept(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    first = cfn_event("create", response_url)
    run(first, lambda_context)
    second = cfn_event("create", response_url)
    second["RequestId"] = "another-request"

    run(second, lambda_context)

    assert [answer["Reason"] for answer in response_url.received] == [
        "Scheduler entry created, not paused.",
        "Scheduler entry kept as it was.",
    ]


def test_the_physical_id_is_the_stacks_and_kept_across_updates(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("create", response_url)
    run(event, lambda_context)
    without_stack = cfn_event("create", response_url)
    del without_stack["StackId"]
    run(without_stack, lambda_context)

    first, second = response_url.received
    assert first["PhysicalResourceId"] == f"{event['StackId']}/scheduler-entry"
    assert second["PhysicalResourceId"] == "stack/scheduler-entry"


def test_cloudformation_gets_every_field_it_reads(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("delete", response_url)

    run(event, lambda_context)

    assert response_url.only_answer() == {
        "Status": "SUCCESS",
        "Reason": "The scheduler entry and its table are kept.",
        "PhysicalResourceId": event["PhysicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": {},
    }


@pytest.mark.usefixtures("dynamodb")
def test_the_answer_is_sent_with_a_ten_second_bound(captured_put: CapturedPut, lambda_context: Any, logs: Any) -> None:
    from scheduler_service import entry_resource

    event = https_create_event()

    entry_resource.handler(event, lambda_context)

    assert captured_put.timeouts == [10]
    assert logs()
    assert all(line["function_request_id"] == lambda_context.aws_request_id for line in logs())


def test_an_update_answers_with_the_physical_id_cloudformation_holds(
    dynamodb: Any, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("update", response_url)
    event["PhysicalResourceId"] = "scheduler-entry-made-by-an-older-version"  # a new id would replace the resource

    run(event, lambda_context)

    assert response_url.only_answer()["PhysicalResourceId"] == "scheduler-entry-made-by-an-older-version"


def test_an_update_keeps_an_entry_that_is_there(
    dynamodb: Any, scheduler_entry: dict[str, Any], response_url: ResponseUrl, lambda_context: Any
) -> None:
    run(cfn_event("update", response_url), lambda_context)

    assert stored_item(dynamodb) == scheduler_entry
    assert response_url.only_answer()["Reason"] == "Scheduler entry kept as it was."


def test_the_push_endpoint_is_the_accounts_iot_data_endpoint_and_writes_no_entry(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    import re

    from scheduler_service import aws

    asked: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    session = aws.botocore_session()
    session.register("provide-client-params.iot.DescribeEndpoint", record)
    event = cfn_event("push-endpoint-create", response_url)
    try:
        run(event, lambda_context)
    finally:
        session.unregister("provide-client-params.iot.DescribeEndpoint", record)

    answer = response_url.only_answer()
    assert answer["Status"] == "SUCCESS"
    assert re.fullmatch(r"[a-z0-9]+-ats\.iot\.eu-west-1\.amazonaws\.com", answer["Data"]["Address"])
    assert asked == [{"endpointType": "iot:Data-ATS"}]  # the ATS endpoint, not the legacy Verisign one
    assert answer["PhysicalResourceId"].endswith("/push-endpoint")
    assert stored_item(dynamodb) is None  # not the entry's resource: nothing written


def test_deleting_the_push_endpoint_deletes_nothing_and_succeeds(
    dynamodb: Any, response_url: ResponseUrl, lambda_context: Any
) -> None:
    event = cfn_event("push-endpoint-create", response_url)
    event.update(RequestType="Delete", PhysicalResourceId="stack/push-endpoint")

    run(event, lambda_context)

    answer = response_url.only_answer()
    assert (answer["Status"], answer["Data"], answer["PhysicalResourceId"]) == ("SUCCESS", {}, "stack/push-endpoint")
