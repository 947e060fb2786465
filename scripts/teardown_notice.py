"""`make delete`: say what deleting the stack keeps, before `sam delete` asks to go ahead.

The stack's retained resources (DeletionPolicy: Retain) are read from template.yaml, so this list cannot drift
from what CloudFormation will leave behind; when the stack can be read with the current credentials, their
physical names are shown too, with the commands that remove each one by hand.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from typing import Any

from botocore.config import Config
from botocore.session import Session

from local_stack.template import PROJECT_ROOT, load_template

WHY = {
    "AWS::DynamoDB::Table": "the switch and its versions (deletion protection and point-in-time recovery on)",
    "AWS::Logs::LogGroup": "the audit trail: every pause and resume, for AuditRetentionDays",
    "AWS::IAM::Role": "the account-wide API Gateway logging role (only with ApiAccessLogging=CreateAccountRole)",
    "AWS::ApiGateway::Account": "the account-wide API Gateway logging setting (ApiAccessLogging=CreateAccountRole)",
}
REMOVE = {
    "AWS::DynamoDB::Table": (
        "aws dynamodb update-table --table-name {name} --no-deletion-protection-enabled && "
        "aws dynamodb delete-table --table-name {name}"
    ),
    "AWS::Logs::LogGroup": "aws logs delete-log-group --log-group-name {name}",
    "AWS::IAM::Role": (
        "aws iam detach-role-policy --role-name {name} --policy-arn "
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs && "
        "aws iam delete-role --role-name {name}"
    ),
    "AWS::ApiGateway::Account": "(nothing to delete: other APIs of the account may use the setting; leave it)",
}


def retained() -> dict[str, str]:
    """Logical id -> type of every resource the stack keeps when it is deleted."""
    return {
        name: resource["Type"]
        for name, resource in load_template()["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    }


def stack_name(config_env: str) -> str:
    config = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text())
    name: str = config[config_env]["global"]["parameters"]["stack_name"]
    return name


def physical_names(stack: str) -> dict[str, str]:
    """The stack's physical names by logical id; empty when the stack cannot be read (no credentials, say)."""
    try:
        client: Any = Session().create_client(
            "cloudformation", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})
        )
        resources = client.describe_stack_resources(StackName=stack)["StackResources"]
    except Exception:  # a notice: whatever keeps us from reading the stack, the list below still stands
        return {}
    return {item["LogicalResourceId"]: item.get("PhysicalResourceId", "") for item in resources}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-env", default="default")
    arguments = parser.parse_args(argv)
    stack = stack_name(arguments.config_env)
    names = physical_names(stack)
    print(f"Deleting the stack {stack} keeps these resources (DeletionPolicy: Retain):")
    for logical_id, kind in retained().items():
        physical = names.get(logical_id)
        print(f"  - {logical_id} ({kind}{', ' + physical if physical else ''}): {WHY.get(kind, 'kept')}")
        if physical:
            print(f"      remove by hand: {REMOVE.get(kind, '').format(name=physical)}")
    print(
        "Everything else goes: the API, the functions and their versions, the state machines, the alarms, the "
        "dashboard, the change-event pipe and its queue, and the function and execution logs.\n"
        "To re-create the stack later with the same switch, deploy with CarryOverFromTable=<the kept table> "
        "(docs/deploy.md, Teardown)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
