"""template.yaml is the one source of truth for the table's schema: tests and the local stack read it here."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
TABLE_LOGICAL_ID = "SchedulerTable"
FUNCTION_LOGICAL_ID = "SchedulerFunction"


@cache
def load_template() -> dict[str, Any]:
    """The template as a dict, CloudFormation short forms (!Ref, !GetAtt, ...) included."""
    from cfnlint.decode import cfn_yaml  # noqa: PLC0415 - cfn-lint's YAML reader, only when the template is read

    template: dict[str, Any] = cfn_yaml.load(str(TEMPLATE_PATH))
    return template


def table_definition() -> dict[str, Any]:
    """``CreateTable`` arguments (less the name) for the scheduler table, as the template declares it."""
    properties = load_template()["Resources"][TABLE_LOGICAL_ID]["Properties"]
    return {
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
        "StreamSpecification": {"StreamEnabled": True, **properties["StreamSpecification"]},
    }


def create_table(client: Any, table_name: str) -> bool:
    """Create the scheduler table if it is missing and wait until it is active. True if it created it."""
    try:
        client.create_table(TableName=table_name, **table_definition())
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return True


def function_handlers() -> dict[str, Any]:
    """The template's functions, by logical id, as callables (``Handler: module.function`` in CodeUri, which is
    on the path). Import after the environment is set: modules read it at import."""

    handlers: dict[str, Any] = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            module, _, name = resource["Properties"]["Handler"].rpartition(".")
            handlers[logical_id] = getattr(importlib.import_module(module), name)
    return handlers
