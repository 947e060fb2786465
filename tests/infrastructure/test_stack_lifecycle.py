"""A deleted stack can be re-created and its table replaced: run through moto's CloudFormation with the
translated template's own resources, and checked on what CloudFormation would have to replace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infrastructure.translated import translate

TABLE = "SchedulerTable"


@pytest.fixture(scope="module")
def template() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        yield translate()


def the_audit_trail(template: dict[str, Any]) -> str:
    """The translated template's audit log group with its parameter and condition, as a stack of its own."""
    resources = template["Resources"]
    return json.dumps(
        {
            "Parameters": {
                "AuditLogGroupName": template["Parameters"]["AuditLogGroupName"],
                "AuditRetentionDays": template["Parameters"]["AuditRetentionDays"],
                "Stage": template["Parameters"]["Stage"],
            },
            "Conditions": {"CreateAuditLog": template["Conditions"]["CreateAuditLog"]},
            "Resources": {"PauseChangeAuditLog": resources["PauseChangeAuditLog"]},
            "Outputs": {"PauseChangeAuditLogName": template["Outputs"]["PauseChangeAuditLogName"]},
        }
    )


def output(cloudformation: Any, stack: str) -> str:
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    value: str = described["Outputs"][0]["OutputValue"]
    return value


@pytest.mark.usefixtures("aws_env")
def test_a_deleted_stack_is_created_again_and_the_kept_trail_is_found_by_the_docs_query(
    template: dict[str, Any],
) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        cloudformation, logs = boto3.client("cloudformation"), boto3.client("logs")
        cloudformation.create_stack(StackName="scheduler-control-prod", TemplateBody=the_audit_trail(template))
        first = output(cloudformation, "scheduler-control-prod")
        cloudformation.delete_stack(StackName="scheduler-control-prod")

        cloudformation.create_stack(StackName="scheduler-control-prod", TemplateBody=the_audit_trail(template))
        second = output(cloudformation, "scheduler-control-prod")

        # docs/deploy.md, Teardown: the trails a stack of this name has made, kept ones included.
        prefix = "scheduler-control-prod-PauseChangeAuditLog-"
        found = [group["logGroupName"] for group in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]]
        assert first != second
        assert sorted(found) == sorted([first, second])


@pytest.mark.usefixtures("aws_env")
def test_a_re_created_stack_can_go_on_with_the_kept_trail(template: dict[str, Any]) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        cloudformation, logs = boto3.client("cloudformation"), boto3.client("logs")
        cloudformation.create_stack(StackName="scheduler-control-dev", TemplateBody=the_audit_trail(template))
        kept = output(cloudformation, "scheduler-control-dev")
        cloudformation.delete_stack(StackName="scheduler-control-dev")

        cloudformation.create_stack(
            StackName="scheduler-control-dev",
            TemplateBody=the_audit_trail(template),
            Parameters=[{"ParameterKey": "AuditLogGroupName", "ParameterValue": kept}],
        )

        assert output(cloudformation, "scheduler-control-dev") == kept
        assert [group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]] == [kept]


def references(value: Any, logical_id: str) -> bool:
    """True when a property value names the resource (Ref, GetAtt, or inside a Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] == logical_id:
            return True
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            if f"${{{logical_id}}}" in text or f"${{{logical_id}." in text:
                return True
        return any(references(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(references(item, logical_id) for item in value)
    return False


def at(properties: dict[str, Any], pointer: str) -> Any:
    value: Any = properties
    for part in pointer.removeprefix("/properties/").split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def test_no_custom_named_resource_must_be_replaced_with_the_table(template: dict[str, Any]) -> None:
    """A table replacement replaces every resource with a create-only property that depends on the table;
    CloudFormation cannot replace a resource whose name is fixed. So none may have both."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    checked = 0
    for name, resource in template["Resources"].items():
        if not resource["Type"].startswith("AWS::"):
            continue
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("eu-west-1", resource["Type"]).schema
        create_only = schema.get("createOnlyProperties", [])
        properties = resource.get("Properties", {})
        named = [p for p in create_only if p.endswith("Name") and at(properties, p) is not None]
        on_the_table = [p for p in create_only if references(at(properties, p), TABLE)]
        if on_the_table:
            checked += 1
            assert not named, (name, named, on_the_table)
    assert checked >= 1  # the pipe: its Source is the table's stream
