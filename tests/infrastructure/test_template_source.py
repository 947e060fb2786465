"""template.yaml deploys what the service promises: IAM-only API, least privilege, data that outlives the stack."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.template import load_template
from tests.infrastructure.translated import policy_statements


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
    return policy_statements(function)


def test_the_function_may_only_read_and_update_the_table_and_read_the_pipes_state(resources: dict[str, Any]) -> None:
    statements = {statement["Sid"]: statement for statement in _statements(resources["SchedulerFunction"])}

    assert set(statements) == {"ReadAndSetTheOneSchedulerItem", "TheHeartbeatReadsTheChangeEventPipesState"}
    table = statements["ReadAndSetTheOneSchedulerItem"]
    assert table["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert table["Resource"] == {"Fn::GetAtt": ["SchedulerTable", "Arn"]}
    pipe = statements["TheHeartbeatReadsTheChangeEventPipesState"]
    assert (pipe["Action"], pipe["Resource"]) == ("pipes:DescribePipe", {"Fn::GetAtt": ["PauseChangeEvents", "Arn"]})


def test_the_entry_function_may_create_in_the_table_and_read_only_the_tables_it_replaced(
    resources: dict[str, Any],
) -> None:
    entry_function = resources["SchedulerEntryFunction"]
    carrying_over = frozenset({"PushOn", "CarryOverOnCreate"})
    statements = {statement["Sid"]: statement for statement in policy_statements(entry_function, carrying_over)}

    create = statements.pop("CreateTheSchedulerItemIfMissing")
    assert create["Action"] == ["dynamodb:PutItem"]
    assert create["Resource"] == {"Fn::GetAtt": ["SchedulerTable", "Arn"]}
    read_old = statements.pop("ReadTheSwitchOfTheTableThisStackReplaced")
    assert read_old["Action"] == ["dynamodb:GetItem"]
    stack_tables, named_table = read_old["Resource"]
    assert stack_tables["Fn::Sub"].endswith(":table/${AWS::StackName}-SchedulerTable-*")
    assert named_table["Fn::Sub"].endswith(":table/${CarryOverFromTable}")  # only when one is given
    # With push on, the account's IoT data endpoint for Custom::PushEndpoint (the action takes only *).
    endpoint = statements.pop("FindTheIotDataEndpoint")
    assert (endpoint["Action"], endpoint["Resource"]) == ("iot:DescribeEndpoint", "*")
    assert statements == {}
    without_push = policy_statements(entry_function, frozenset())
    assert "FindTheIotDataEndpoint" not in {statement["Sid"] for statement in without_push}
    assert len(without_push[-1]["Resource"]) == 1  # the stack's own tables only


def test_every_route_is_iam_authorised(resources: dict[str, Any]) -> None:
    api = resources["SchedulerApi"]["Properties"]
    events = {
        name: e for name, e in resources["SchedulerFunction"]["Properties"]["Events"].items() if e["Type"] == "Api"
    }

    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    assert all("Auth" not in event["Properties"] for event in events.values())
    routes = {(event["Properties"]["Path"], event["Properties"]["Method"]) for event in events.values()}
    assert {("/scheduler", "get"), ("/scheduler", "patch")} <= routes


def test_the_stage_is_throttled_and_access_logged(resources: dict[str, Any]) -> None:
    api = resources["SchedulerApi"]["Properties"]

    assert api["MethodSettings"][0]["ThrottlingRateLimit"]
    assert api["MethodSettings"][0]["ThrottlingBurstLimit"]
    condition, logged, off = api["AccessLogSetting"]["Fn::If"]  # on unless ApiAccessLogging=Off
    assert condition == "AccessLogsOn"
    assert "DestinationArn" in logged
    assert off == {"Ref": "AWS::NoValue"}


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
def test_state_machines_may_invoke_only_the_scheduler_functions_live_alias(
    resources: dict[str, Any], machine: str
) -> None:
    assert resources[machine]["Properties"]["Role"] == {"Fn::GetAtt": ["StateMachineRole", "Arn"]}
    role = resources["StateMachineRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    invoking = [statement for statement in statements if "lambda:InvokeFunction" in statement["Action"]]
    others = [statement for statement in statements if statement not in invoking]

    assert [statement["Resource"] for statement in invoking] == [{"Ref": "SchedulerFunction.Alias"}]
    assert all(action.startswith("logs:") for statement in others for action in statement["Action"])


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_state_machines_log_their_executions(resources: dict[str, Any], machine: str) -> None:
    logging = resources[machine]["Properties"]["Logging"]

    assert logging["Level"] == "ALL"
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]


def test_the_function_is_traced(resources: dict[str, Any]) -> None:
    assert load_template()["Globals"]["Function"]["Tracing"] == "Active"


def _all_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for resource in resources.values() for statement in policy_statements(resource)]


# The actions AWS offers on no resource but *: CloudWatch Logs delivery (Step Functions logging), X-Ray's
# trace upload, and IoT's DescribeEndpoint.
STAR_ONLY_ACTIONS = ("logs:", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "iot:DescribeEndpoint")


def test_no_iam_wildcards_beyond_actions_that_take_no_resource(resources: dict[str, Any]) -> None:
    statements = _all_statements(resources)

    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        if statement["Resource"] == "*":
            assert all(action.startswith(STAR_ONLY_ACTIONS) for action in actions), statement


def _transitions(state: dict[str, Any]) -> set[str]:
    targets = {state.get("Next"), state.get("Default")}
    targets |= {choice.get("Next") for choice in state.get("Choices", [])}
    targets |= {catch.get("Next") for catch in state.get("Catch", [])}
    return {target for target in targets if target}


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_state_machines_have_no_loop(resources: dict[str, Any], machine: str) -> None:
    """No state can be reached again from itself: every execution ends after a bounded number of steps."""
    import json

    from local_stack.template import PROJECT_ROOT

    states = json.loads((PROJECT_ROOT / resources[machine]["Properties"]["DefinitionUri"]).read_text())["States"]

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(_transitions(states[start]))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(_transitions(states[name]))
        return seen

    assert all(name not in reachable(name) for name in states)


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_every_task_retries_the_functions_transient_failures(resources: dict[str, Any], machine: str) -> None:
    import json

    from local_stack.template import PROJECT_ROOT

    states = json.loads((PROJECT_ROOT / resources[machine]["Properties"]["DefinitionUri"]).read_text())["States"]
    tasks = [state for state in states.values() if state["Type"] == "Task"]

    assert tasks
    for task in tasks:
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert {"SchedulerInternalError", "Lambda.Unknown", "Sandbox.Timedout", "Lambda.ServiceException"} <= retried
        assert all(retrier["MaxAttempts"] <= 6 for retrier in task["Retry"])


def test_the_longest_maintenance_window_is_a_parameter_the_function_reads(resources: dict[str, Any]) -> None:
    template = load_template()

    assert template["Parameters"]["MaxMaintenanceWindowSeconds"]["Default"] == 86400
    variables = resources["SchedulerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MAX_WINDOW_SECONDS"] == {"Ref": "MaxMaintenanceWindowSeconds"}
