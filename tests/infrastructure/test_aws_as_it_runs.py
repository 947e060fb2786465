"""The operations layer as AWS runs it, checked on the translated template: one stage, trust that names this
account, asynchronous callers retried as meant, alarms whose metric math can fire, the audit path watched."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.template import PROJECT_ROOT
from tests.infrastructure.translated import of_type, translate


@pytest.fixture(scope="module")
def resources() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        yield translate()["Resources"]


def test_the_named_stage_is_the_only_stage(resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    (deployment,) = of_type(resources, "AWS::ApiGateway::Deployment").values()

    assert stage["Properties"]["StageName"] == {"Ref": "Stage"}
    assert "StageName" not in deployment["Properties"]  # SAM's implicit "Stage" stage is gone


def test_lambda_permissions_are_for_this_api_its_routes_and_the_only_stage(resources: dict[str, Any]) -> None:
    """SAM's Api events grant every stage of the API ("*": samtranslator hard-codes it); with one stage that
    is the named stage. What each permission does pin: this API, one method and path, the live alias."""
    permissions = of_type(resources, "AWS::Lambda::Permission")

    assert permissions
    for name, permission in permissions.items():
        properties = permission["Properties"]
        template, names = properties["SourceArn"]["Fn::Sub"]
        assert properties["Principal"] == "apigateway.amazonaws.com", name
        assert names == {"__ApiId__": {"Ref": "SchedulerApi"}, "__Stage__": "*"}, name
        assert re.fullmatch(
            r"arn:aws:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
            r"\$\{__ApiId__\}/\$\{__Stage__\}/(GET|HEAD|PATCH|\*)/.*",
            template,
        ), name


def test_every_role_trusts_its_service_for_this_account_only(resources: dict[str, Any]) -> None:
    roles = of_type(resources, "AWS::IAM::Role")

    assert len(roles) >= 7
    for name, role in roles.items():
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            assert "Service" in statement["Principal"], name
            assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, name


def test_the_roles_sam_would_make_are_the_templates_own(resources: dict[str, Any]) -> None:
    (deployment_group,) = of_type(resources, "AWS::CodeDeploy::DeploymentGroup").values()
    machines = of_type(resources, "AWS::StepFunctions::StateMachine").values()

    assert deployment_group["Properties"]["ServiceRoleArn"] == {"Fn::GetAtt": ["CodeDeployRole", "Arn"]}
    assert all(machine["Properties"]["RoleArn"] == {"Fn::GetAtt": ["StateMachineRole", "Arn"]} for machine in machines)


def test_asynchronous_callers_are_retried_as_the_template_says(resources: dict[str, Any]) -> None:
    configs = {
        config["Properties"]["FunctionName"]["Ref"]: config["Properties"]
        for config in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    }

    # The heartbeat (EventBridge Scheduler, asynchronous, through the live alias): never retried.
    assert configs["SchedulerFunction"]["Qualifier"] == "live"
    assert (
        configs["SchedulerFunction"]["MaximumRetryAttempts"],
        configs["SchedulerFunction"]["MaximumEventAgeInSeconds"],
    ) == (0, 60)
    # CloudFormation's custom resource requests (asynchronous, unqualified): twice more within 10 minutes.
    assert configs["SchedulerEntryFunction"]["Qualifier"] == "$LATEST"
    assert configs["SchedulerEntryFunction"]["MaximumRetryAttempts"] == 2
    # The push repair (EventBridge Scheduler, asynchronous, unqualified): never retried either.
    assert configs["PushRepairFunction"]["Qualifier"] == "$LATEST"
    assert (
        configs["PushRepairFunction"]["MaximumRetryAttempts"],
        configs["PushRepairFunction"]["MaximumEventAgeInSeconds"],
    ) == (0, 60)
    schedules = of_type(resources, "AWS::Scheduler::Schedule")
    assert set(schedules) == {"SchedulerFunctionHeartbeat", "PushRepairFunctionRepair"}
    for schedule in schedules.values():
        assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_no_detailed_metrics_are_paid_for(resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()

    assert [setting["MetricsEnabled"] for setting in stage["Properties"]["MethodSettings"]] == [False]


def test_metric_math_fills_each_metric_that_may_be_absent(resources: dict[str, Any]) -> None:
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        metrics = alarm["Properties"].get("Metrics", [])
        expressions = [m["Expression"] for m in metrics if "Expression" in m]
        for expression in expressions:
            for identifier in (m["Id"] for m in metrics if "MetricStat" in m):
                if re.search(rf"\b{identifier}\b", expression) and " - " not in expression and "SUM(" not in expression:
                    assert f"FILL({identifier}, 0)" in expression, (name, expression)


def alarm_on(resources: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[name]["Properties"]
    return properties


def watched(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in alarm.get("Metrics", [])
        if "MetricStat" in m
    } or {(alarm["Namespace"], alarm["MetricName"])}


def test_the_audit_path_and_the_pipe_are_watched(resources: dict[str, Any]) -> None:
    assert watched(alarm_on(resources, "AuditDeliveryAlarm")) == {
        ("AWS/Events", "FailedInvocations"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
    assert watched(alarm_on(resources, "ChangeEventPipeFailuresAlarm")) == {
        ("AWS/EventBridge/Pipes", "ExecutionFailed"),
        ("AWS/EventBridge/Pipes", "TargetStageFailed"),
        ("AWS/EventBridge/Pipes", "ExecutionTimeout"),
    }
    stopped = alarm_on(resources, "ChangeEventPipeStoppedAlarm")
    assert watched(stopped) == {("SchedulerControl", "ChangeEventPipeRunning")}
    assert (stopped["ComparisonOperator"], stopped["Threshold"]) == ("LessThanThreshold", 1)
    failures = alarm_on(resources, "ChangeEventPipeFailuresAlarm")
    assert all(
        m["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "PipeName", "Value": {"Ref": "PauseChangeEvents"}}]
        for m in failures["Metrics"]
        if "MetricStat" in m
    )


def test_the_audit_alarm_reads_the_rule_by_the_name_it_has_on_its_bus(resources: dict[str, Any]) -> None:
    rule_name = resources["PauseChangeAuditRule"]["Properties"]["Name"]
    failed = next(m for m in alarm_on(resources, "AuditDeliveryAlarm")["Metrics"] if m["Id"] == "failed")
    on_default, on_custom = failed["MetricStat"]["Metric"]["Dimensions"]["Fn::If"][1:]

    assert on_default == [{"Name": "RuleName", "Value": rule_name}]
    assert on_custom == [
        {"Name": "EventBusName", "Value": {"Ref": "EventBusName"}},
        {"Name": "RuleName", "Value": rule_name},
    ]


def test_a_dead_lettered_record_still_exists_in_the_stream_when_the_runbook_reads_it(resources: dict[str, Any]) -> None:
    stream = resources["PauseChangeEvents"]["Properties"]["SourceParameters"]["DynamoDBStreamParameters"]

    # A stream keeps records 24 hours: a record dead-lettered at most an hour old stays readable for 23 more.
    assert stream["MaximumRecordAgeInSeconds"] <= 3600
    assert stream["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["PauseChangeDeadLetters", "Arn"]}}


def test_only_one_stack_per_account_sets_the_account_wide_logging_role() -> None:
    config = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text())
    overrides = {
        env: dict(part.split("=", 1) for part in config[env]["deploy"]["parameters"]["parameter_overrides"].split())
        for env in ("default", "prod")
    }

    assert overrides["default"].get("ApiAccessLogging", "CreateAccountRole") == "CreateAccountRole"
    assert overrides["prod"]["ApiAccessLogging"] == "AccountRoleExists"
