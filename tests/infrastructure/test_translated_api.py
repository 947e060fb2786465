"""What CloudFormation receives: template.yaml run through the SAM translator (pinned samtranslator), as
`sam deploy` would, with the code locations replaced by S3 URIs as `sam package` does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from local_stack.template import load_template
from tests.infrastructure.translated import of_type, operations, policy_statements, the_alias, translate


@pytest.fixture(scope="module")
def resources() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        yield translate()["Resources"]


def test_every_route_is_iam_authorised_and_invokes_the_api_alias_without_caller_credentials(
    resources: dict[str, Any],
) -> None:
    alias = the_alias(resources)
    routes = set()
    for path, method, operation in operations(resources):
        routes.add((path, method))
        integration = operation["x-amazon-apigateway-integration"]
        assert "credentials" not in integration, (path, method)
        assert integration["type"] == "aws_proxy"
        assert f"${{{alias}}}" in integration["uri"]["Fn::Sub"]
        assert operation["security"] == [{"AWS_IAM": []}]
    assert {
        ("/scheduler", "get"),
        ("/scheduler", "head"),
        ("/scheduler", "patch"),
        ("/", "x-amazon-apigateway-any-method"),
    } <= routes


def test_only_api_gateway_may_invoke_and_only_the_api_alias_from_this_api(resources: dict[str, Any]) -> None:
    alias = the_alias(resources)
    permissions = of_type(resources, "AWS::Lambda::Permission")

    api_permissions = [
        p["Properties"] for p in permissions.values() if p["Properties"]["Principal"] != "lambda.amazonaws.com"
    ]
    assert api_permissions
    for permission in api_permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] == {"Ref": alias}
        source, names = permission["SourceArn"]["Fn::Sub"]
        assert source.startswith("arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/")
        assert names["__ApiId__"] == {"Ref": "SchedulerApi"}


def test_the_function_knows_its_live_alias(resources: dict[str, Any]) -> None:
    alias = resources[the_alias(resources)]["Properties"]["Name"]
    function = resources["SchedulerFunction"]["Properties"]

    assert function["Environment"]["Variables"]["LIVE_ALIAS"] == alias


def test_state_machines_and_the_heartbeat_invoke_only_the_live_alias(resources: dict[str, Any]) -> None:
    alias = the_alias(resources)
    roles = {
        name: role
        for name, role in of_type(resources, "AWS::IAM::Role").items()
        if "StateMachine" in name or "Heartbeat" in name
    }

    assert set(roles) == {"StateMachineRole", "HeartbeatScheduleRole"}
    schedule = resources["SchedulerFunctionHeartbeat"]
    assert schedule["Properties"]["Target"]["RoleArn"] == {"Fn::GetAtt": ["HeartbeatScheduleRole", "Arn"]}
    for role in roles.values():
        statements = [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]
        invoking = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
        assert [s["Resource"] for s in invoking] == [{"Ref": alias}]
    for machine in of_type(resources, "AWS::StepFunctions::StateMachine").values():
        assert machine["Properties"]["DefinitionSubstitutions"] == {"SchedulerFunctionArn": {"Ref": alias}}


def test_no_wildcard_actions_and_star_resources_only_for_actions_that_take_no_resource(
    resources: dict[str, Any],
) -> None:
    star_only = {
        "DeliverExecutionLogs": "logs:",  # Step Functions' log delivery
        "SendTraces": "xray:",  # X-Ray's trace upload
        "FindTheIotDataEndpoint": "iot:DescribeEndpoint",
    }
    for name, role in of_type(resources, "AWS::IAM::Role").items():
        for statement in policy_statements(role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (name, statement)
            if statement["Resource"] == "*":
                assert statement["Sid"] in star_only, (name, statement)
                assert all(action.startswith(star_only[statement["Sid"]]) for action in actions)
        managed = role["Properties"].get("ManagedPolicyArns", [])
        allowed: tuple[str, ...] = (
            "AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess",
            "AWSCodeDeployRoleForLambda",
        )
        if name == "ApiGatewayCloudWatchRole":  # what API Gateway's account setting needs, nothing more
            allowed = ("AmazonAPIGatewayPushToCloudWatchLogs",)
        assert all(any(policy in str(arn) for policy in allowed) for arn in managed), (name, managed)


def test_the_resource_policy_denies_patch_to_principals_not_named(resources: dict[str, Any]) -> None:
    policy = resources["SchedulerApi"]["Properties"]["Body"]["x-amazon-apigateway-policy"]

    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == "execute-api:/*/PATCH/*"
    assert statement["Condition"]["StringNotLike"]["aws:PrincipalArn"] == {"Fn::Split": [",", "*"]}


def test_named_patch_principals_reach_the_policy_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    operators = "arn:aws:iam::123456789012:role/Operator,arn:aws:iam::123456789012:role/Pipeline"

    body = translate({"PatchPrincipalArns": operators})["Resources"]["SchedulerApi"]["Properties"]["Body"]

    condition = body["x-amazon-apigateway-policy"]["Statement"][0]["Condition"]["StringNotLike"]
    assert condition["aws:PrincipalArn"] == {"Fn::Split": [",", operators]}


def test_the_table_is_retained_with_point_in_time_recovery(resources: dict[str, Any]) -> None:
    table = resources["SchedulerTable"]

    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["DeletionProtectionEnabled"] is True


# Change events: the table's stream, a pipe to EventBridge, a dead-letter queue with its alarm


def test_the_table_streams_old_and_new_images(resources: dict[str, Any]) -> None:
    assert resources["SchedulerTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_pipe_reads_the_stream_in_order_and_sends_only_flips_to_the_bus(resources: dict[str, Any]) -> None:
    pipe = resources["PauseChangeEvents"]["Properties"]

    assert pipe["Source"] == {"Fn::GetAtt": ["SchedulerTable", "StreamArn"]}
    stream = pipe["SourceParameters"]["DynamoDBStreamParameters"]
    assert stream["BatchSize"] == 1
    assert stream["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["PauseChangeDeadLetters", "Arn"]}}
    patterns = [json.loads(entry["Pattern"]) for entry in pipe["SourceParameters"]["FilterCriteria"]["Filters"]]
    transitions = {
        (
            pattern["dynamodb"]["OldImage"]["is_paused"]["BOOL"][0],
            pattern["dynamodb"]["NewImage"]["is_paused"]["BOOL"][0],
        )
        for pattern in patterns
    }
    assert transitions == {(False, True), (True, False)}
    assert all(pattern["eventName"] == ["MODIFY"] for pattern in patterns)
    assert pipe["Target"]["Fn::Sub"].endswith(":event-bus/${EventBusName}")
    bus = pipe["TargetParameters"]["EventBridgeEventBusParameters"]
    assert (bus["Source"], bus["DetailType"]) == ("scheduler-control", "Scheduler pause changed")


def test_the_pipe_may_only_read_the_stream_put_on_the_bus_and_dead_letter(resources: dict[str, Any]) -> None:
    role = resources["PauseChangeEventsRole"]["Properties"]
    (trusted,) = role["AssumeRolePolicyDocument"]["Statement"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]

    assert trusted["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trusted["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    granted = {
        action: json.dumps(statement["Resource"], sort_keys=True)
        for statement in statements
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    stream = json.dumps({"Fn::GetAtt": ["SchedulerTable", "StreamArn"]}, sort_keys=True)
    assert granted == {
        "dynamodb:DescribeStream": stream,
        "dynamodb:GetRecords": stream,
        "dynamodb:GetShardIterator": stream,
        "dynamodb:ListStreams": stream,
        "events:PutEvents": json.dumps(resources["PauseChangeEvents"]["Properties"]["Target"], sort_keys=True),
        "sqs:SendMessage": json.dumps({"Fn::GetAtt": ["PauseChangeDeadLetters", "Arn"]}, sort_keys=True),
    }


def test_a_dead_lettered_event_raises_an_alarm_on_that_queue(resources: dict[str, Any]) -> None:
    alarm = resources["ChangeEventDeliveryAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PauseChangeDeadLetters", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "First step" in alarm["AlarmDescription"]


# The audit trail


def a_change_event(stage: str = "dev", source: str = "scheduler-control") -> dict[str, Any]:
    """A change event as EventBridge delivers it from the pipe (the detail is the pipe's input template)."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "source": source,
        "detail-type": "Scheduler pause changed",
        "account": "123456789012",
        "time": "2026-11-29T08:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "is_paused": True,
            "previous_is_paused": False,
            "version": 8,
            "updated_by": "arn:aws:iam::123456789012:user/operator",
            "updated_at": "2026-11-29T08:00:00.000+00:00",
            "stage": stage,
        },
    }


def test_the_audit_rule_takes_this_stages_change_events_into_the_audit_log(resources: dict[str, Any]) -> None:
    from moto.events.models import EventPattern

    rule = resources["PauseChangeAuditRule"]["Properties"]
    pattern = EventPattern.load(json.dumps(rule["EventPattern"]).replace('{"Ref": "Stage"}', '"dev"'))

    assert pattern.matches_event(cast(Any, a_change_event()))
    assert not pattern.matches_event(cast(Any, a_change_event(stage="prod")))
    assert not pattern.matches_event(cast(Any, a_change_event(source="someone-else")))
    assert rule["EventBusName"] == {"Ref": "EventBusName"}
    (target,) = rule["Targets"]
    arn, names = target["Arn"]["Fn::Sub"]
    assert arn == "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Group}"
    # The stack's own log group, or one a re-created stack adopts (AuditLogGroupName).
    assert names == {
        "Group": {"Fn::If": ["CreateAuditLog", {"Ref": "PauseChangeAuditLog"}, {"Ref": "AuditLogGroupName"}]}
    }


def test_what_the_audit_rule_cannot_write_is_retried_for_a_day_then_dead_lettered(resources: dict[str, Any]) -> None:
    (target,) = resources["PauseChangeAuditRule"]["Properties"]["Targets"]
    statement = resources["AuditDeadLettersPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]

    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AuditDeadLetters", "Arn"]}}
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["PauseChangeAuditRule", "Arn"]}}}


def test_the_audit_log_is_kept_for_years_and_outlives_the_stack(resources: dict[str, Any]) -> None:
    log = resources["PauseChangeAuditLog"]
    parameter = load_template()["Parameters"]["AuditRetentionDays"]

    assert log["DeletionPolicy"] == log["UpdateReplacePolicy"] == "Retain"
    assert log["Properties"]["RetentionInDays"] == {"Ref": "AuditRetentionDays"}
    assert parameter["Default"] >= 400
    assert min(parameter["AllowedValues"]) >= 400


def test_only_this_rule_may_write_the_audit_log_in_the_shape_of_aws_sample(resources: dict[str, Any]) -> None:
    document, _ = resources["PauseChangeAuditLogPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"]
    create, write = json.loads(document.replace("${GroupArn}", "LOG").replace("${PauseChangeAuditRule.Arn}", "RULE"))[
        "Statement"
    ]

    # AWS's sample: the condition on PutLogEvents only; CreateLogStream for the services, on the group's streams.
    assert (create["Action"], create["Resource"]) == ("logs:CreateLogStream", "LOG:*")
    assert "Condition" not in create
    assert (write["Action"], write["Resource"]) == ("logs:PutLogEvents", "LOG:*")
    assert write["Condition"] == {"ArnEquals": {"aws:SourceArn": "RULE"}}
