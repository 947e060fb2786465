"""The real state machine definitions from template.yaml, executed by moto's Step Functions interpreter, with
the Lambda task running the real handler in this process against moto's DynamoDB."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_stack.template import PROJECT_ROOT, load_template
from tests.conftest import LambdaContext, stored_item

EXECUTION_SECONDS = 30


@pytest.fixture
def moto_config() -> dict[str, Any]:
    return {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


class FunctionInProcess:
    """Stands in for moto's Docker-less Lambda: runs lambda_handler and answers as Lambda does, including
    the error payload and X-Amz-Function-Error that Step Functions turns into a catchable error name."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []
        self.before_call: Callable[[Any], None] = lambda payload: None

    def invoke(self, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        import app

        payload = json.loads(body or "{}")
        self.payloads.append(payload)
        self.before_call(payload)
        try:
            result = app.lambda_handler(payload, LambdaContext())
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []}
        return json.dumps(result).encode()


@pytest.fixture
def function(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> FunctionInProcess:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    runner = FunctionInProcess()
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", lambda _backend, *args: runner.invoke(*args))
    return runner


@pytest.fixture
def start(function: FunctionInProcess) -> Callable[[str, Any], dict[str, Any]]:
    """Creates the template's state machines in moto and returns: (logical id, input) -> finished execution."""
    import boto3

    iam = boto3.client("iam")
    role = iam.create_role(RoleName="scheduler-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("app.py", "")  # moto keeps it; FunctionInProcess runs the real code
    lambda_arn = boto3.client("lambda").create_function(
        FunctionName="scheduler",
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    sfn = boto3.client("stepfunctions")
    machines: dict[str, str] = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        properties = resource["Properties"]
        definition = Path(PROJECT_ROOT / properties["DefinitionUri"]).read_text()
        for name in properties["DefinitionSubstitutions"]:
            definition = definition.replace(f"${{{name}}}", lambda_arn)
        machines[logical_id] = sfn.create_state_machine(name=logical_id, definition=definition, roleArn=role)[
            "stateMachineArn"
        ]

    def run(logical_id: str, execution_input: Any) -> dict[str, Any]:
        arn = sfn.start_execution(stateMachineArn=machines[logical_id], input=json.dumps(execution_input))[
            "executionArn"
        ]
        deadline = time.monotonic() + EXECUTION_SECONDS
        finished = threading.Event()
        while time.monotonic() < deadline:
            execution: Any = sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return dict(execution)
            finished.wait(0.02)  # moto runs executions on a thread of its own; poll its status, bounded
        pytest.fail(f"{logical_id} did not finish within {EXECUTION_SECONDS} s")

    return run


def output(execution: dict[str, Any]) -> Any:
    assert execution["status"] == "SUCCEEDED", execution
    return json.loads(execution["output"])


# SetSchedulerPause


@pytest.mark.parametrize("value", [True, False])
def test_set_scheduler_pause_sets_and_outputs_the_new_state(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any], value: bool
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": value})

    assert output(execution) == {"is_paused": value, "etag": '"2"'}
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": value}
    assert item["updated_by"]["S"] == execution["executionArn"]


def test_set_scheduler_pause_without_the_entry_fails_naming_it(start: Any, dynamodb: Any) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SchedulerEntryMissing"
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize(
    "bad_input", [{"is_paused": "yes"}, {"is_paused": True, "node": 3}, {}], ids=["wrong-type", "extra", "empty"]
)
def test_set_scheduler_pause_with_bad_input_fails_with_invalid_scheduler_update(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any], bad_input: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", bad_input)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidSchedulerUpdate"
    assert stored_item(dynamodb) == scheduler_entry


# MaintenanceWindow


def test_maintenance_window_pauses_waits_and_resumes(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("MaintenanceWindowStateMachine", {"wait_seconds": 0})

    result = output(execution)
    assert result["outcome"] == "resumed"
    assert result["resumed"] is True
    assert [payload.get("is_paused") for payload in function.payloads] == [None, True, False]
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": False}
    assert item["version"] == {"N": "3"}  # its own pause and resume, nothing else


def test_maintenance_window_leaves_an_earlier_pause_alone(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    import store

    store.write_pause(True, actor="operator")
    before = stored_item(dynamodb)

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "already_paused"
    assert result["resumed"] is False
    assert [payload.get("is_paused") for payload in function.payloads] == [None]  # read only
    assert stored_item(dynamodb) == before


def test_maintenance_window_leaves_a_change_made_during_the_wait(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    import store

    def operator_changes_it_before_the_resume(payload: Any) -> None:
        if payload.get("is_paused") is False:
            store.write_pause(True, actor="operator")  # e.g. an operator re-pausing during the window

    function.before_call = operator_changes_it_before_the_resume

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "changed_during_window"
    assert result["resumed"] is False
    item = stored_item(dynamodb)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}
    assert item["updated_by"] == {"S": "operator"}


def test_maintenance_window_without_the_entry_fails_naming_it(start: Any, dynamodb: Any) -> None:
    execution = start("MaintenanceWindowStateMachine", {"wait_seconds": 0})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SchedulerEntryMissing"
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize("bad_input", [{}, {"wait_seconds": "soon"}, {"wait_seconds": -1}])
def test_maintenance_window_refuses_a_bad_window_before_touching_anything(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any], bad_input: Any
) -> None:
    execution = start("MaintenanceWindowStateMachine", bad_input)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidMaintenanceWindow"
    assert function.payloads == []
    assert stored_item(dynamodb) == scheduler_entry
