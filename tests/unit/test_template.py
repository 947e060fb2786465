"""template.yaml deploys what the service promises: IAM-only API, least privilege, data that outlives the stack."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.template import load_template


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template()["Resources"]
    return resources


def test_the_table_is_kept_and_recoverable(resources: dict[str, Any]) -> None:
    table = resources["SchedulerTable"]

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for policy in function["Properties"]["Policies"] for statement in policy["Statement"]]


@pytest.mark.parametrize(
    ("function", "actions"),
    [
        ("SchedulerFunction", {"dynamodb:GetItem", "dynamodb:UpdateItem"}),
        ("SchedulerEntryFunction", {"dynamodb:PutItem"}),
    ],
)
def test_functions_may_do_only_what_they_use_on_only_the_table(
    resources: dict[str, Any], function: str, actions: set[str]
) -> None:
    statements = _statements(resources[function])

    assert {action for statement in statements for action in statement["Action"]} == actions
    assert all(statement["Resource"] == {"Fn::GetAtt": ["SchedulerTable", "Arn"]} for statement in statements)


def test_every_route_is_iam_authorised(resources: dict[str, Any]) -> None:
    api = resources["SchedulerApi"]["Properties"]
    events = resources["SchedulerFunction"]["Properties"]["Events"]

    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    assert all("Auth" not in event["Properties"] for event in events.values())
    routes = {(event["Properties"]["Path"], event["Properties"]["Method"]) for event in events.values()}
    assert {("/scheduler", "get"), ("/scheduler", "patch")} <= routes


def test_the_stage_is_throttled_and_access_logged(resources: dict[str, Any]) -> None:
    api = resources["SchedulerApi"]["Properties"]

    assert api["MethodSettings"][0]["ThrottlingRateLimit"]
    assert api["MethodSettings"][0]["ThrottlingBurstLimit"]
    assert "DestinationArn" in api["AccessLogSetting"]


def test_bodies_reach_the_function_byte_exact(resources: dict[str, Any]) -> None:
    assert "*~1*" in resources["SchedulerApi"]["Properties"]["BinaryMediaTypes"]


def test_every_log_group_has_a_retention(resources: dict[str, Any]) -> None:
    log_groups = [resource for resource in resources.values() if resource["Type"] == "AWS::Logs::LogGroup"]

    assert len(log_groups) >= 3
    assert all("RetentionInDays" in group["Properties"] for group in log_groups)


def test_the_entry_is_created_by_the_custom_resource(resources: dict[str, Any]) -> None:
    entry = resources["SchedulerEntry"]

    assert entry["Type"].startswith("Custom::")
    assert entry["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["SchedulerEntryFunction", "Arn"]}


STATE_MACHINES = ["SetSchedulerPauseStateMachine", "MaintenanceWindowStateMachine"]


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_state_machines_may_invoke_only_the_scheduler_function(resources: dict[str, Any], machine: str) -> None:
    statements = _statements(resources[machine])
    invoking = [statement for statement in statements if "lambda:InvokeFunction" in statement["Action"]]
    others = [statement for statement in statements if statement not in invoking]

    assert [statement["Resource"] for statement in invoking] == [{"Fn::GetAtt": ["SchedulerFunction", "Arn"]}]
    assert all(action.startswith("logs:") for statement in others for action in statement["Action"])


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_state_machines_log_their_executions(resources: dict[str, Any], machine: str) -> None:
    logging = resources[machine]["Properties"]["Logging"]

    assert logging["Level"] == "ALL"
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]


def test_the_function_is_traced(resources: dict[str, Any]) -> None:
    assert load_template()["Globals"]["Function"]["Tracing"] == "Active"


def _all_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for resource in resources.values()
        for policy in resource.get("Properties", {}).get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


def test_no_iam_wildcards_beyond_log_delivery(resources: dict[str, Any]) -> None:
    statements = _all_statements(resources)

    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        if statement["Resource"] == "*":
            # CloudWatch Logs delivery for Step Functions logging has no resource-level permissions.
            assert all(action.startswith("logs:") for action in actions), statement
