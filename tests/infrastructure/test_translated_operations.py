"""Operations, as CloudFormation receives them (the SAM-translated template): the alarms, where they notify,
what they watch; the heartbeat schedule; gradual deploys that roll back on the error alarms; access logging
that a fresh account can deploy; the dashboard."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from local_stack.template import PROJECT_ROOT, load_template
from tests.infrastructure.translated import of_type, the_alias, translate

NOTIFY = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        return translate()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


def alarm(resources: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[name]["Properties"]
    return properties


def dimensions(properties: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in properties["Dimensions"]}


def math_metrics(properties: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, name, dimensions) of each metric a metric-math alarm reads."""
    return [
        (
            m["MetricStat"]["Metric"]["Namespace"],
            m["MetricStat"]["Metric"]["MetricName"],
            dimensions(m["MetricStat"]["Metric"]),
        )
        for m in properties["Metrics"]
        if "MetricStat" in m
    ]


# --- where alarms go ----------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")

    assert len(alarms) == 17
    for name, resource in alarms.items():
        properties = resource["Properties"]
        assert properties["AlarmActions"] == NOTIFY, name
        assert properties["OKActions"] == NOTIFY, name
        assert "First step" in str(properties["AlarmDescription"]), name  # a runbook line


def test_the_topic_is_the_stacks_unless_one_is_given_and_email_subscribes_to_it(template: dict[str, Any]) -> None:
    resources, conditions = template["Resources"], template["Conditions"]

    assert conditions["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert conditions["SubscribeAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == NOTIFY[0]
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == (
        "email",
        {"Ref": "AlarmEmail"},
    )
    (statement,) = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert template["Outputs"]["NotificationTopicArn"]["Value"] == NOTIFY[0]


# --- what alarms watch -----------------------------------------------------------------------------------------


def test_the_missing_entry_and_the_heartbeat_alarms_fire_within_five_minutes_without_traffic(
    resources: dict[str, Any],
) -> None:
    missing = alarm(resources, "SchedulerEntryMissingAlarm")
    unknown = alarm(resources, "SchedulerStateUnknownAlarm")

    assert (missing["MetricName"], missing["Statistic"], missing["Threshold"]) == ("SchedulerEntryMissing", "Sum", 0)
    assert missing["Period"] * missing["EvaluationPeriods"] <= 300
    # No read for 3 minutes (missing data counts as breaching): the entry cannot be read, or nothing reads it.
    assert (unknown["MetricName"], unknown["Statistic"], unknown["ComparisonOperator"]) == (
        "SchedulerPaused",
        "SampleCount",
        "LessThanThreshold",
    )
    assert unknown["TreatMissingData"] == "breaching"
    assert unknown["Period"] * unknown["EvaluationPeriods"] <= 300


def test_paused_too_long_compares_with_the_parameter_default_four_hours(template: dict[str, Any]) -> None:
    properties = alarm(template["Resources"], "SchedulerPausedTooLongAlarm")

    assert (properties["MetricName"], properties["Statistic"]) == ("SchedulerPausedSeconds", "Maximum")
    assert properties["Threshold"] == {"Ref": "PausedTooLongSeconds"}
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert load_template()["Parameters"]["PausedTooLongSeconds"]["Default"] == 4 * 3600


def test_api_and_function_alarms_watch_this_api_and_the_live_alias(resources: dict[str, Any]) -> None:
    api_name = resources["SchedulerApi"]["Properties"]["Name"]
    api = alarm(resources, "ApiServerErrorsAlarm")
    assert (api["Namespace"], api["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert dimensions(api) == {"ApiName": api_name, "Stage": {"Ref": "Stage"}}
    live = {"FunctionName": {"Ref": "SchedulerFunction"}, "Resource": {"Fn::Sub": "${SchedulerFunction}:live"}}
    throttles = alarm(resources, "FunctionThrottlesAlarm")
    assert (throttles["Namespace"], throttles["MetricName"], dimensions(throttles)) == ("AWS/Lambda", "Throttles", live)
    # Errors of the live alias, less the refusals the direct edge counts itself (a caller's mistake pages nobody).
    errors = alarm(resources, "FunctionErrorsAlarm")
    stage = {"service": "scheduler", "stage": {"Ref": "Stage"}}
    assert math_metrics(errors) == [("AWS/Lambda", "Errors", live), ("SchedulerControl", "DirectCallRefused", stage)]
    assert [m["Expression"] for m in errors["Metrics"] if "Expression" in m] == ["errors - FILL(refused, 0)"]
    assert resources[the_alias(resources)]["Properties"]["Name"] == "live"


def test_database_alarms_watch_throttles_and_system_errors_of_the_table(resources: dict[str, Any]) -> None:
    table = {"TableName": {"Ref": "SchedulerTable"}}
    assert math_metrics(alarm(resources, "DatabaseThrottlesAlarm")) == [
        ("AWS/DynamoDB", "ReadThrottleEvents", table),
        ("AWS/DynamoDB", "WriteThrottleEvents", table),
    ]
    assert math_metrics(alarm(resources, "DatabaseSystemErrorsAlarm")) == [
        ("AWS/DynamoDB", "SystemErrors", {**table, "Operation": "GetItem"}),
        ("AWS/DynamoDB", "SystemErrors", {**table, "Operation": "UpdateItem"}),
    ]


def test_state_machine_alarm_sums_failed_timed_out_and_aborted_runs_of_both_machines(resources: dict[str, Any]) -> None:
    properties = alarm(resources, "StateMachineRunsFailedAlarm")
    watched = {(name, dims["StateMachineArn"]["Ref"]) for _, name, dims in math_metrics(properties)}

    assert watched == {
        (name, machine)
        for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
        for machine in ("SetSchedulerPauseStateMachine", "MaintenanceWindowStateMachine")
    }
    (expression,) = [m for m in properties["Metrics"] if "Expression" in m]
    assert set(re.findall(r"[a-z]+", expression["Expression"].split("(", 1)[1])) == {
        m["Id"] for m in properties["Metrics"] if "MetricStat" in m
    }


# --- the heartbeat ------------------------------------------------------------------------------------------


def test_the_heartbeat_reads_the_switch_every_minute_through_the_live_alias(resources: dict[str, Any]) -> None:
    schedule = resources["SchedulerFunctionHeartbeat"]
    target = schedule["Properties"]["Target"]

    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert target["Arn"] == {"Ref": the_alias(resources)}
    assert json.loads(target["Input"]) == {"action": "heartbeat", "caller": "heartbeat"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0


# --- safe deploys ---------------------------------------------------------------------------------------------


def test_deploys_shift_the_live_alias_and_roll_back_on_the_error_alarms(resources: dict[str, Any]) -> None:
    (group,) = of_type(resources, "AWS::CodeDeploy::DeploymentGroup").values()
    alias = resources[the_alias(resources)]

    assert group["Properties"]["AlarmConfiguration"] == {
        "Enabled": True,
        "Alarms": [{"Name": {"Ref": "FunctionErrorsAlarm"}}, {"Name": {"Ref": "ApiServerErrorsAlarm"}}],
    }
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(
        group["Properties"]["AutoRollbackConfiguration"]["Events"]
    )
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == {
        "Ref": "SchedulerFunctionDeploymentGroup"
    }


def config_name(parameters: dict[str, str]) -> str:
    (group,) = of_type(translate(parameters)["Resources"], "AWS::CodeDeploy::DeploymentGroup").values()
    name: str = group["Properties"]["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"]
    return name


def test_dev_deploys_all_at_once_and_prod_shifts_gradually(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    samconfig = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text())
    prod = dict(
        pair.split("=", 1)
        for pair in samconfig["prod"]["deploy"]["parameters"]["parameter_overrides"].replace('"', "").split()
    )

    assert config_name({}) == "AllAtOnce"
    assert prod["DeploymentType"].startswith(("Canary", "Linear"))
    assert config_name({"DeploymentType": prod["DeploymentType"]}) == prod["DeploymentType"]


# --- a first deploy into a fresh account ----------------------------------------------------------------------


def test_access_logging_waits_for_the_account_setting_it_creates_or_is_off(template: dict[str, Any]) -> None:
    resources, conditions = template["Resources"], template["Conditions"]
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()

    assert conditions["AccessLogsOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiAccessLogging"}, "Off"]}]}
    assert conditions["CreateApiGatewayAccountRole"] == {
        "Fn::Equals": [{"Ref": "ApiAccessLogging"}, "CreateAccountRole"]
    }
    assert stage["Properties"]["AccessLogSetting"]["Fn::If"][0] == "AccessLogsOn"
    assert stage["Properties"]["AccessLogSetting"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    # The stage is created after the API, the API after the account setting (when the stack makes it).
    assert resources["SchedulerApi"]["DependsOn"] == "ApiGatewayAccountReady"
    assert resources["ApiGatewayAccountReady"]["Metadata"]["AccountSetting"]["Fn::If"][:2] == [
        "CreateApiGatewayAccountRole",
        {"Ref": "ApiGatewayAccount"},
    ]
    for name in ("ApiGatewayAccount", "ApiGatewayCloudWatchRole"):
        assert resources[name]["Condition"] == "CreateApiGatewayAccountRole"
        assert resources[name]["DeletionPolicy"] == "Retain"  # account-wide: other APIs may rely on it
    assert resources["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]
    }


# --- the dashboard ----------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_switch_traffic_latency_throttles_errors_runs_and_every_alarm(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    body = resources["SchedulerDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # What CloudFormation substitutes: ${Name} and ${Name.Attribute}.
    references = set(re.findall(r"\$\{([A-Za-z0-9:.]+)\}", body))
    dashboard = json.loads(re.sub(r"\$\{([A-Za-z0-9:.]+)\}", "x", body))

    titles = [widget["properties"]["title"] for widget in dashboard["widgets"]]
    for wanted in ("switch", "Requests by status", "Latency", "Throttles", "Errors", "State machine runs", "Alarms"):
        assert any(wanted in title for title in titles), wanted
    latency = next(w for w in dashboard["widgets"] if w["properties"]["title"].startswith("Latency"))
    assert [m[-1]["stat"] for m in latency["properties"]["metrics"]] == ["p50", "p99"]
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    push_alarms = {name for name in alarms if resources[name].get("Condition") == "PushOn"}
    assert push_alarms == {"PushDeliveryAlarm", "PushStateBehindAlarm", "PushLagAlarm", "EntryHealedAlarm"}
    assert {ref.removesuffix(".Arn") for ref in references if ref.endswith(".Arn")} == alarms - push_alarms
    assert "dashboards:name=${SchedulerDashboard}" in template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    # The data plane's alarms are on its own dashboard, which exists exactly when they do.
    push_body = resources["PushDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert resources["PushDashboard"]["Condition"] == "PushOn"
    push_references = set(re.findall(r"\$\{([A-Za-z0-9:.]+)\}", push_body))
    assert {ref.removesuffix(".Arn") for ref in push_references if ref.endswith(".Arn")} == push_alarms
    assert "dashboards:name=${PushDashboard}" in template["Outputs"]["PushDashboardUrl"]["Value"]["Fn::Sub"]
