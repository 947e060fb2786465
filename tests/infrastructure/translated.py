"""What CloudFormation receives: template.yaml run through the pinned SAM translator, as `sam deploy` would,
with the code locations replaced by S3 URIs as `sam package` does. Shared by the infrastructure tests."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local_stack.template import PROJECT_ROOT, load_template


class NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def translate(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://bucket/scheduler.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = json.loads(Path(PROJECT_ROOT / properties.pop("DefinitionUri")).read_text())
    translated: dict[str, Any] = transform(template, parameters or {}, NoManagedPolicies())
    return translated


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def operations(resources: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    body = resources["SchedulerApi"]["Properties"]["Body"]
    for path, item in body["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def the_alias(resources: dict[str, Any]) -> str:
    (name,) = of_type(resources, "AWS::Lambda::Alias")
    return name


NO_VALUE = {"Ref": "AWS::NoValue"}


def resolved(value: Any, true_conditions: frozenset[str] = frozenset({"PushOn"})) -> Any:
    """``value`` with every Fn::If chosen as CloudFormation would when ``true_conditions`` hold (and no other
    condition does), and AWS::NoValue left out: what the deployed resource receives."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            return resolved(when_true if condition in true_conditions else when_false, true_conditions)
        return {
            key: resolved(item, true_conditions)
            for key, item in value.items()
            if resolved(item, true_conditions) != NO_VALUE
        }
    if isinstance(value, list):
        return [resolved(item, true_conditions) for item in value if resolved(item, true_conditions) != NO_VALUE]
    return value


def policy_statements(
    resource: dict[str, Any], true_conditions: frozenset[str] = frozenset({"PushOn"})
) -> list[dict[str, Any]]:
    """Every statement of a role's (or a SAM function's) inline policies and of a managed policy, resolved."""
    properties = resource.get("Properties", {})
    documents = [
        policy.get("PolicyDocument", policy) for policy in properties.get("Policies", []) if isinstance(policy, dict)
    ]
    if "PolicyDocument" in properties:
        documents.append(properties["PolicyDocument"])
    return [
        statement for document in documents for statement in resolved(document, true_conditions).get("Statement", [])
    ]
