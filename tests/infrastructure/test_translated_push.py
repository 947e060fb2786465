"""The data plane as CloudFormation receives it: the publisher reads the table's stream one record at a time with
bounded retries and a failure destination, may only publish (and retain) on its one topic; the repair runs every
minute; nodes get one managed policy; the API function gets no IoT permission; PushEnabled=false leaves nothing
of it behind."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infrastructure.translated import of_type, policy_statements, resolved

TOPIC_ARN = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/scheduler-control/${Stage}/pause"


@pytest.fixture
def template(translated_template: dict[str, Any]) -> dict[str, Any]:
    return translated_template


@pytest.fixture
def resources(translated_template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = translated_template["Resources"]
    return resources


def iot_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy_statements(resource) if any(a.startswith("iot:") for a in _actions(s))]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def role_of(resources: dict[str, Any], function: str) -> dict[str, Any]:
    role_arn = resources[function]["Properties"]["Role"]
    role: dict[str, Any] = resources[role_arn["Fn::GetAtt"][0]]
    return role


def test_the_publisher_reads_the_tables_stream_one_record_at_a_time_in_order_with_bounded_retries(
    resources: dict[str, Any],
) -> None:
    (mapping,) = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]

    assert properties["FunctionName"] == {"Ref": "PushPublisherFunction"}
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["SchedulerTable", "StreamArn"]}
    assert (properties["BatchSize"], properties["ParallelizationFactor"]) == (1, 1)
    assert properties["StartingPosition"] == "TRIM_HORIZON"  # the deploy's own INSERT of the entry included
    assert 0 < properties["MaximumRetryAttempts"] <= 10
    assert properties["MaximumRecordAgeInSeconds"] <= 3600
    assert properties["BisectBatchOnFunctionError"] is False
    assert properties["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["PushFailures", "Arn"]}}}
    (pattern,) = properties["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {"eventName": ["INSERT", "MODIFY"]}
    assert resources["PushPublisherFunction"]["Properties"]["Handler"] == "scheduler_service.stream_edge.handler"


def test_the_publisher_may_publish_and_retain_on_its_one_topic_and_nothing_else_of_iot(
    resources: dict[str, Any],
) -> None:
    role = role_of(resources, "PushPublisherFunction")
    statements = {statement["Sid"]: statement for statement in policy_statements(role)}

    assert role["Properties"].get("ManagedPolicyArns") is None  # no AWS managed policy's wildcards
    (iot,) = iot_statements(role)
    assert sorted(_actions(iot)) == ["iot:Publish", "iot:RetainPublish"]
    assert iot["Resource"] == {"Fn::Sub": TOPIC_ARN}
    stream = statements["ReadTheTablesStream"]
    assert stream["Resource"] == {"Fn::GetAtt": ["SchedulerTable", "StreamArn"]}
    assert sorted(_actions(stream)) == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ]
    assert statements["KeepWhatCannotBePublished"]["Resource"] == {"Fn::GetAtt": ["PushFailures", "Arn"]}
    assert statements["WriteItsLogs"]["Resource"] == {"Fn::GetAtt": ["PushPublisherFunctionLogs", "Arn"]}
    heal = statements["HealTheOneSchedulerItem"]
    assert (heal["Action"], heal["Resource"]) == ("dynamodb:UpdateItem", {"Fn::GetAtt": ["SchedulerTable", "Arn"]})
    assert set(statements) == {
        "ReadTheTablesStream",
        "PublishTheRetainedMessage",
        "KeepWhatCannotBePublished",
        "HealTheOneSchedulerItem",
        "WriteItsLogs",
        "SendTraces",
    }
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_repair_reads_the_entry_and_the_retained_message_and_may_republish_it(resources: dict[str, Any]) -> None:
    role = resources["PushRepairFunctionRole"]
    statements = {statement["Sid"]: statement for statement in policy_statements(role)}

    (iot,) = iot_statements(role)
    assert sorted(_actions(iot)) == ["iot:GetRetainedMessage", "iot:Publish", "iot:RetainPublish"]
    assert iot["Resource"] == {"Fn::Sub": TOPIC_ARN}
    assert statements["ReadTheOneSchedulerItem"]["Action"] == "dynamodb:GetItem"
    assert statements["ReadTheOneSchedulerItem"]["Resource"] == {"Fn::GetAtt": ["SchedulerTable", "Arn"]}
    heal = statements["HealTheOneSchedulerItem"]
    assert (heal["Action"], heal["Resource"]) == ("dynamodb:UpdateItem", {"Fn::GetAtt": ["SchedulerTable", "Arn"]})
    assert set(statements) == {
        "ReadTheOneSchedulerItem",
        "HealTheOneSchedulerItem",
        "ReadAndRepublishTheRetainedMessage",
    }
    schedule = resources["PushRepairFunctionRepair"]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["PushRepairFunction", "Arn"]}
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["PushRepairScheduleRole", "Arn"]}
    (invoke,) = policy_statements(resources["PushRepairScheduleRole"])
    assert (invoke["Action"], invoke["Resource"]) == (
        "lambda:InvokeFunction",
        {"Fn::GetAtt": ["PushRepairFunction", "Arn"]},
    )
    assert resources["PushRepairFunction"]["Properties"]["Handler"] == "scheduler_service.repair_edge.handler"


@pytest.mark.parametrize("function", ["PushPublisherFunction", "PushRepairFunction"])
def test_both_know_the_topic_and_the_endpoint_the_custom_resource_found(
    resources: dict[str, Any], function: str
) -> None:
    variables = resources[function]["Properties"]["Environment"]["Variables"]

    assert variables["PUSH_TOPIC"] == {"Fn::Sub": "scheduler-control/${Stage}/pause"}
    assert variables["IOT_DATA_ENDPOINT"] == {"Fn::Sub": "https://${PushEndpoint.Address}"}
    assert resources["PushEndpoint"]["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["SchedulerEntryFunction", "Arn"]}


def test_the_api_function_and_the_state_machines_get_no_iot_permission(resources: dict[str, Any]) -> None:
    for name in ("SchedulerFunctionRole", "StateMachineRole", "HeartbeatScheduleRole"):
        assert iot_statements(resources[name]) == [], name


def test_a_node_may_read_the_switch_and_nothing_else(resources: dict[str, Any]) -> None:
    policy = resources["NodePolicy"]
    statements = {statement["Sid"]: statement for statement in policy_statements(policy)}
    prefix = "arn:${AWS::Partition}:"

    api = statements.pop("ReadTheSwitchOverTheApi")
    assert api["Action"] == "execute-api:Invoke"
    assert [resource["Fn::Sub"].rsplit(":", 1)[1] for resource in api["Resource"]] == [
        "${SchedulerApi}/${Stage}/GET/scheduler",
        "${SchedulerApi}/${Stage}/GET/scheduler/",
        "${SchedulerApi}/${Stage}/HEAD/scheduler",
        "${SchedulerApi}/${Stage}/HEAD/scheduler/",
    ]  # no wildcard: no other route, no other method
    assert {sid: (s["Action"], s["Resource"]["Fn::Sub"]) for sid, s in statements.items()} == {
        "ConnectAsANodeOfThisStage": (
            "iot:Connect",
            prefix + "iot:${AWS::Region}:${AWS::AccountId}:client/scheduler-control-${Stage}-node-*",
        ),
        "SubscribeToThePushTopic": (
            "iot:Subscribe",
            prefix + "iot:${AWS::Region}:${AWS::AccountId}:topicfilter/scheduler-control/${Stage}/pause",
        ),
        "ReceiveThePushTopic": ("iot:Receive", TOPIC_ARN),
    }
    assert all(s["Effect"] == "Allow" for s in policy_statements(policy))
    # With push off, a node may only GET and HEAD.
    assert [s["Sid"] for s in policy_statements(policy, frozenset())] == ["ReadTheSwitchOverTheApi"]


def test_the_outputs_give_nodes_the_push_url_topic_endpoint_and_their_policy(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert outputs["PushUrl"]["Value"] == {"Fn::Sub": "wss://${PushEndpoint.Address}/scheduler-control/${Stage}/pause"}
    assert outputs["PushTopic"]["Value"] == {"Fn::Sub": "scheduler-control/${Stage}/pause"}
    assert outputs["PushEndpoint"]["Value"] == {"Fn::GetAtt": ["PushEndpoint", "Address"]}
    assert outputs["NodePolicyArn"]["Value"] == {"Ref": "NodePolicy"}
    for name in ("PushUrl", "PushTopic", "PushEndpoint", "PushFailuresUrl", "PushDashboardUrl"):
        assert outputs[name]["Condition"] == "PushOn", name


def test_the_alarms_watch_the_failure_destination_the_retained_message_and_the_lag(resources: dict[str, Any]) -> None:
    delivery = resources["PushDeliveryAlarm"]["Properties"]
    behind = resources["PushStateBehindAlarm"]["Properties"]
    lag = resources["PushLagAlarm"]["Properties"]

    assert (delivery["Namespace"], delivery["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert delivery["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["PushFailures", "QueueName"]}}]
    assert (delivery["Threshold"], delivery["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    # Behind in two runs in a row: the first run's republish did not heal it. A run that did not report is
    # behind too (the repair itself is down).
    assert (behind["Namespace"], behind["MetricName"], behind["Statistic"]) == (
        "SchedulerControl",
        "PushStateBehind",
        "Minimum",
    )
    assert (behind["Period"], behind["EvaluationPeriods"], behind["DatapointsToAlarm"]) == (60, 2, 2)
    assert (behind["Threshold"], behind["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert behind["TreatMissingData"] == "breaching"
    assert {d["Name"]: d["Value"] for d in behind["Dimensions"]} == {"service": "scheduler", "stage": {"Ref": "Stage"}}
    assert (lag["Namespace"], lag["MetricName"]) == ("AWS/Lambda", "IteratorAge")
    assert lag["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "PushPublisherFunction"}}]
    for alarm in (delivery, behind, lag):
        assert "Push is behind" in alarm["AlarmDescription"]


def test_a_heal_pages_at_once(resources: dict[str, Any]) -> None:
    healed = resources["EntryHealedAlarm"]["Properties"]

    assert resources["EntryHealedAlarm"]["Condition"] == "PushOn"
    assert (healed["Namespace"], healed["MetricName"], healed["Statistic"]) == (
        "SchedulerControl",
        "EntryHealed",
        "Sum",
    )
    assert (healed["Period"], healed["EvaluationPeriods"], healed["Threshold"]) == (60, 1, 1)
    assert (healed["ComparisonOperator"], healed["TreatMissingData"]) == (
        "GreaterThanOrEqualToThreshold",
        "notBreaching",
    )
    assert {d["Name"]: d["Value"] for d in healed["Dimensions"]} == {"service": "scheduler", "stage": {"Ref": "Stage"}}
    assert "The entry was healed" in healed["AlarmDescription"]
    assert healed["AlarmActions"] == resources["PushStateBehindAlarm"]["Properties"]["AlarmActions"]


def _references(value: Any) -> set[str]:
    """The resources a value names: Ref, Fn::GetAtt, and ${...} in Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found |= {name.split(".")[0] for name in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)}
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def test_with_push_off_nothing_left_names_a_push_resource(template: dict[str, Any]) -> None:
    """CloudFormation refuses a template whose unconditional parts name a resource a false condition removed."""
    resources = template["Resources"]
    push = {name for name, resource in resources.items() if resource.get("Condition") == "PushOn"}
    assert {"PushPublisherFunction", "PushRepairFunction", "PushEndpoint", "PushFailures", "PushDashboard"} <= push
    assert not any(
        name.startswith(("Push", "NodePolicy")) and name not in push for name in resources if name != "NodePolicy"
    )

    kept = {name: resource for name, resource in resources.items() if name not in push}
    for name, resource in kept.items():
        assert not _references(resolved(resource, frozenset())) & push, name
    for name, output in template["Outputs"].items():
        if output.get("Condition") != "PushOn":
            assert not _references(resolved(output, frozenset())) & push, name
