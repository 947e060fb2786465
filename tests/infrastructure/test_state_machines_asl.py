"""The real state machine definitions from template.yaml, executed by moto's Step Functions interpreter, with
the Lambda task running the real handler in this process against moto's DynamoDB."""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local_stack.template import PROJECT_ROOT, load_template
from tests.conftest import LambdaContext, next_request_id, stored_item, tag

EXECUTION_SECONDS = 30


@pytest.fixture
def moto_config() -> dict[str, Any]:
    return {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@dataclass
class Fault:
    """One injected failure of the Lambda task: the error Step Functions sees for the next matching call,
    either instead of running the function or after running it (its answer lost on the way back)."""

    matches: Callable[[dict[str, Any]], bool]
    error_type: str
    after_running: bool = False


class FunctionInProcess:
    """Stands in for moto's Docker-less Lambda: runs lambda_handler and answers as Lambda does, including
    the error payload (with its stack trace) and X-Amz-Function-Error that Step Functions turns into a
    catchable error name. Faults and hooks let a test inject failures and interleave executions."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []
        self.faults: list[Fault] = []
        self.before_call: Callable[[Any], None] = lambda payload: None
        self.after_call: Callable[[Any], None] = lambda payload: None

    def invoke(self, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        from scheduler_service import app

        payload = json.loads(body or "{}")
        self.payloads.append(payload)
        self.before_call(payload)
        fault = next((fault for fault in self.faults if fault.matches(payload)), None)
        if fault is not None:
            self.faults.remove(fault)
        try:
            if fault is not None and not fault.after_running:
                raise _named_error(fault.error_type)
            result = app.lambda_handler(payload, LambdaContext(aws_request_id=next_request_id()))
            if fault is not None:
                raise _named_error(fault.error_type)
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
        finally:
            self.after_call(payload)
        return json.dumps(result).encode()


def _named_error(name: str) -> Exception:
    error_class: type[Exception] = type(name, (Exception,), {})
    return error_class(f"injected {name}")


@pytest.fixture
def function(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> FunctionInProcess:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    runner = FunctionInProcess()
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", lambda _backend, *args: runner.invoke(*args))
    return runner


class Executions:
    """Starts executions of the template's state machines in moto: ``start(id, input)`` runs one to its end;
    ``start.begin`` only starts it and ``start.finish`` waits for its end."""

    def __init__(self, sfn: Any, machines: dict[str, str]) -> None:
        self.sfn = sfn
        self.machines = machines
        self.started = 0

    def __call__(self, logical_id: str, execution_input: Any) -> dict[str, Any]:
        return self.finish(self.begin(logical_id, execution_input))

    def begin(self, logical_id: str, execution_input: Any) -> str:
        self.started += 1
        arn: str = self.sfn.start_execution(
            stateMachineArn=self.machines[logical_id], name=f"run-{self.started}", input=json.dumps(execution_input)
        )["executionArn"]
        return arn

    def finish(self, arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + EXECUTION_SECONDS
        finished = threading.Event()
        while time.monotonic() < deadline:
            execution: Any = self.sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return dict(execution)
            finished.wait(0.02)  # moto runs executions on a thread of its own; poll its status, bounded
        pytest.fail(f"{arn} did not finish within {EXECUTION_SECONDS} s")


@pytest.fixture
def start(function: FunctionInProcess) -> Executions:
    """Creates the template's state machines in moto, each Lambda task running the real handler."""
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

    return Executions(sfn, machines)


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry intervals the interpreter asked for, recorded instead of slept."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    intervals: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=intervals.append))
    return intervals


def output(execution: dict[str, Any]) -> Any:
    assert execution["status"] == "SUCCEEDED", execution
    return json.loads(execution["output"])


def item_now(dynamodb: Any) -> dict[str, Any]:
    item = stored_item(dynamodb)
    assert item is not None
    return item


def version(dynamodb: Any) -> int:
    return int(item_now(dynamodb)["version"]["N"])


def is_window(action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda payload: payload.get("action") == action


def sets_pause(payload: dict[str, Any]) -> bool:
    return "is_paused" in payload


def assert_clean_cause(execution: dict[str, Any], message_part: str) -> None:
    """A failure's cause is the function's message: no stack trace, no JSON wrapper."""
    assert message_part in execution["cause"]
    assert "Traceback" not in execution["cause"]
    assert "stackTrace" not in execution["cause"]
    assert ".py" not in execution["cause"]


# SetSchedulerPause


@pytest.mark.parametrize("value", [True, False])
def test_set_scheduler_pause_sets_and_outputs_the_new_state(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any], value: bool
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": value})

    assert output(execution) == {"is_paused": value, "etag": tag(2, value)}
    item = item_now(dynamodb)
    assert item["is_paused"] == {"BOOL": value}
    assert item["updated_by"]["S"] == f"stepfunctions:{execution['executionArn']}"


def test_set_scheduler_pause_without_the_entry_fails_naming_it(start: Any, dynamodb: Any) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SchedulerEntryMissing"
    assert_clean_cause(execution, "missing")
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize("bad_input", [{"is_paused": "yes"}, {}], ids=["wrong-type", "empty"])
def test_set_scheduler_pause_with_bad_input_fails_with_invalid_scheduler_update(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any], bad_input: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", bad_input)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidSchedulerUpdate"
    assert stored_item(dynamodb) == scheduler_entry


def test_a_wrong_type_fails_with_the_functions_message_and_no_stack_trace(
    start: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": "yes"})

    assert execution["cause"] == 'Field "is_paused" must be true or false, not a string.'


def test_an_execution_input_forging_an_api_gateway_identity_sets_only_is_paused(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    forged = {
        "is_paused": True,
        "httpMethod": "PATCH",
        "path": "/scheduler/",
        "requestContext": {"identity": {"userArn": "arn:aws:iam::123456789012:user/admin"}, "requestId": "x"},
        "body": '{"is_paused": false}',
        "caller": "arn:aws:iam::123456789012:user/admin",
        "node": 3,
    }

    execution = start("SetSchedulerPauseStateMachine", forged)

    assert output(execution)["is_paused"] is True
    assert [sorted(payload) for payload in function.payloads] == [
        ["caller", "idempotency_key", "if_match", "is_paused", "reason"]
    ]
    item = item_now(dynamodb)
    assert item["updated_by"]["S"] == f"stepfunctions:{execution['executionArn']}"
    assert item["reason"] == {"S": ""}  # none given
    assert "admin" not in json.dumps(item)


def test_set_scheduler_pause_passes_its_inputs_reason_onto_the_item(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True, "reason": "migrating the database"})

    assert output(execution)["is_paused"] is True
    assert item_now(dynamodb)["reason"] == {"S": "migrating the database"}


def test_a_reason_the_function_refuses_fails_the_execution_and_writes_nothing(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True, "reason": "two\nlines"})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidSchedulerUpdate"
    assert item_now(dynamodb) == scheduler_entry


def test_set_scheduler_pause_passes_if_match_and_a_stale_one_fails_writing_nothing(
    start: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True, "if_match": tag(7, False)})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SchedulerPreconditionFailed"
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.parametrize("transient", ["SchedulerInternalError", "Lambda.Unknown", "Sandbox.Timedout"])
def test_set_scheduler_pause_retries_the_functions_transient_failures_with_a_longer_backoff(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    backoff: list[float],
    transient: str,
) -> None:
    function.faults = [Fault(sets_pause, transient), Fault(sets_pause, transient)]

    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True})

    assert output(execution)["is_paused"] is True
    assert len(function.payloads) == 3
    assert len(backoff) == 2
    assert version(dynamodb) == 2


def test_set_scheduler_pause_whose_answer_is_lost_is_written_once(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    backoff: list[float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    function.faults = [Fault(sets_pause, "Lambda.ServiceException", after_running=True)]

    execution = start("SetSchedulerPauseStateMachine", {"is_paused": True})

    assert output(execution) == {"is_paused": True, "etag": tag(2, True)}
    assert len(function.payloads) == 2
    assert function.payloads[0]["idempotency_key"] == function.payloads[1]["idempotency_key"]
    assert version(dynamodb) == 2
    assert capsys.readouterr().out.count('"PauseStateChanged":[1.0]') == 1  # one EMF record


# MaintenanceWindow


def test_maintenance_window_pauses_waits_and_resumes(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    execution = start("MaintenanceWindowStateMachine", {"wait_seconds": 0})

    result = output(execution)
    assert result["outcome"] == "resumed"
    assert result["paused_by_this_execution"] is True
    assert result["is_paused"] is False
    assert [payload["action"] for payload in function.payloads] == ["open_window", "close_window"]
    item = item_now(dynamodb)
    assert item["is_paused"] == {"BOOL": False}
    assert item["version"] == {"N": "3"}  # its own pause and resume, nothing else
    assert "leases" not in item
    # Each step states why, naming the execution.
    name = execution["executionArn"].rsplit(":", 1)[-1]
    assert {payload["reason"] for payload in function.payloads} == {f"maintenance window {name}"}
    assert item["reason"] == {"S": f"maintenance window {name}"}


def test_maintenance_window_leaves_an_earlier_pause_by_hand_alone(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    from scheduler_service import store

    store.write_pause(True, store.WriteRequest("operator", "t-1", "r-1"))
    before = stored_item(dynamodb)

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "already_paused"
    assert result["paused_by_this_execution"] is False
    assert [payload["action"] for payload in function.payloads] == ["open_window"]
    assert stored_item(dynamodb) == before


@pytest.mark.parametrize("by_hand", [False, True], ids=["resumed-by-hand", "paused-again-by-hand"])
def test_a_change_by_hand_during_the_window_stands(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any], by_hand: bool
) -> None:
    from scheduler_service import store

    def operator_changes_it_before_the_window_ends(payload: Any) -> None:
        if payload.get("action") == "close_window":
            store.write_pause(by_hand, store.WriteRequest("operator", "t-op", "r-op"))

    function.before_call = operator_changes_it_before_the_window_ends

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "changed_during_window"
    item = item_now(dynamodb)
    assert item["is_paused"] == {"BOOL": by_hand}
    assert item["updated_by"] == {"S": "operator"}
    assert item["version"] == {"N": "3"}  # the window's pause and the operator's change; the close wrote nothing


def test_a_window_whose_pause_answer_is_lost_still_resumes(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any], backoff: list[float]
) -> None:
    function.faults = [Fault(is_window("open_window"), "Lambda.ServiceException", after_running=True)]

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "resumed"
    assert [payload["action"] for payload in function.payloads] == ["open_window", "open_window", "close_window"]
    assert item_now(dynamodb)["is_paused"] == {"BOOL": False}
    assert version(dynamodb) == 3


@pytest.mark.parametrize("after_running", [False, True], ids=["failed", "answer-lost"])
def test_a_window_whose_resume_fails_transiently_still_resumes(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    backoff: list[float],
    after_running: bool,
) -> None:
    close = is_window("close_window")
    function.faults = [
        Fault(close, "SchedulerInternalError", after_running),
        Fault(close, "Sandbox.Timedout", after_running),
        Fault(close, "Lambda.TooManyRequestsException", after_running),
    ]

    result = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert result["outcome"] == "resumed"
    assert item_now(dynamodb)["is_paused"] == {"BOOL": False}
    assert version(dynamodb) == 3
    assert len(backoff) == 3


def test_maintenance_window_without_the_entry_fails_naming_it(start: Any, dynamodb: Any) -> None:
    execution = start("MaintenanceWindowStateMachine", {"wait_seconds": 0})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SchedulerEntryMissing"
    assert stored_item(dynamodb) is None


@pytest.mark.parametrize(
    "bad_input",
    [
        {},
        {"wait_seconds": "soon"},
        {"wait_seconds": "10"},
        {"wait_seconds": -1},
        {"wait_seconds": 0.5},
        {"wait_seconds": True},
        {"wait_seconds": None},
        {"wait_seconds": 86_401},
        {"wait_seconds": 10**30},
    ],
    ids=["absent", "word", "numeric-string", "negative", "fraction", "boolean", "null", "over-the-maximum", "huge"],
)
def test_maintenance_window_refuses_a_bad_window_before_touching_anything(
    start: Any, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any], bad_input: Any
) -> None:
    execution = start("MaintenanceWindowStateMachine", bad_input)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidMaintenanceWindow"
    assert_clean_cause(execution, "wait_seconds")
    assert len(function.payloads) <= 1  # the open that refuses it, at most
    assert stored_item(dynamodb) == scheduler_entry


def test_the_longest_window_is_accepted(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_WINDOW_SECONDS", "0")  # the template parameter, set low so the window ends at once

    assert output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))["outcome"] == "resumed"


def test_overlapping_windows_keep_the_pause_until_the_later_one_ends_the_first_ending_last(
    start: Executions, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    second: list[dict[str, Any]] = []
    paused_between: list[bool] = []

    def second_window_runs_whole_inside_the_first(payload: Any) -> None:
        if (
            payload.get("action") == "close_window"
            and function.before_call is second_window_runs_whole_inside_the_first
        ):
            function.before_call = lambda payload: None  # once: the second window's own close passes
            # The second opens (joining the pause) and ends while the first still holds its lease.
            second.append(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))
            paused_between.append(item_now(dynamodb)["is_paused"]["BOOL"])

    function.before_call = second_window_runs_whole_inside_the_first

    first = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert output(second[0])["outcome"] == "held_by_other_window"
    assert paused_between == [True]  # still paused when the second window ended
    assert first["outcome"] == "resumed"
    item = item_now(dynamodb)
    assert item["is_paused"] == {"BOOL": False}
    assert "leases" not in item


def test_overlapping_windows_keep_the_pause_until_the_later_one_ends_the_first_ending_first(
    start: Executions, function: FunctionInProcess, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    first_arn = start.begin("MaintenanceWindowStateMachine", {"wait_seconds": 3600})
    first_opened, second_opened, first_closed = threading.Event(), threading.Event(), threading.Event()

    def track(payload: Any) -> None:
        if payload.get("action") == "open_window":
            (first_opened if payload["caller"] == first_arn else second_opened).set()
        if payload.get("action") == "close_window" and payload["caller"] == first_arn:
            first_closed.set()

    def the_second_ends_only_after_the_first(payload: Any) -> None:
        if payload.get("action") == "close_window" and payload["caller"] != first_arn:
            assert first_closed.wait(EXECUTION_SECONDS)

    function.after_call = track
    function.before_call = the_second_ends_only_after_the_first
    assert first_opened.wait(EXECUTION_SECONDS)
    second_arn = start.begin("MaintenanceWindowStateMachine", {"wait_seconds": 0})
    assert second_opened.wait(EXECUTION_SECONDS)
    # End the first window's wait now (moto's Wait cannot be skipped): its close runs as after a real wait.
    function.payloads.clear()
    close_first = {"action": "close_window", "caller": first_arn, "idempotency_key": "CloseWindow@test"}
    first_result = _invoke_direct(close_first)
    first_closed.set()
    start.sfn.stop_execution(executionArn=first_arn)

    assert first_result["outcome"] == "held_by_other_window"
    assert output(start.finish(second_arn))["outcome"] == "resumed"
    assert item_now(dynamodb)["is_paused"] == {"BOOL": False}


def _invoke_direct(payload: dict[str, Any]) -> dict[str, Any]:
    from scheduler_service import app

    result: dict[str, Any] = app.lambda_handler(payload, LambdaContext(aws_request_id=next_request_id()))
    return result


def test_a_stopped_windows_lease_holds_the_pause_until_it_expires(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from scheduler_service import store

    sfn = boto3.client("stepfunctions")
    opened = threading.Event()
    function.after_call = lambda payload: opened.set() if payload.get("action") == "open_window" else None
    stopped = start.begin("MaintenanceWindowStateMachine", {"wait_seconds": 3600})
    assert opened.wait(EXECUTION_SECONDS)
    sfn.stop_execution(executionArn=stopped)
    opened.clear()

    # Before its lease expires, another window must not resume the pause the stopped one still holds.
    held = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))
    assert held["outcome"] == "held_by_other_window"
    assert item_now(dynamodb)["is_paused"] == {"BOOL": True}

    now = store.clock()
    monkeypatch.setattr(store, "clock", lambda: now + timedelta(seconds=3600 + 900 + 1))
    resumed = output(start("MaintenanceWindowStateMachine", {"wait_seconds": 0}))

    assert resumed["outcome"] == "resumed"
    assert item_now(dynamodb)["is_paused"] == {"BOOL": False}


# Every transient error AWS lists for Lambda tasks (Step Functions best practices, "Handle Lambda service
# exceptions"), and the function's own, injected once on each task: every execution still succeeds, and the
# switch ends as it should, written once per step.

TRANSIENT_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "SchedulerInternalError",
]
TASKS = {
    "set-pause": ("SetSchedulerPauseStateMachine", {"is_paused": True}, sets_pause, True, 2),
    "window-open": ("MaintenanceWindowStateMachine", {"wait_seconds": 0}, is_window("open_window"), False, 3),
    "window-close": ("MaintenanceWindowStateMachine", {"wait_seconds": 0}, is_window("close_window"), False, 3),
}


@pytest.mark.parametrize("landed", [False, True], ids=["before-running", "answer-lost"])
@pytest.mark.parametrize("error", TRANSIENT_ERRORS)
@pytest.mark.parametrize("task", TASKS)
def test_each_transient_error_once_on_each_task_still_ends_as_it_should(
    start: Any,
    function: FunctionInProcess,
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    backoff: list[float],
    task: str,
    error: str,
    landed: bool,
) -> None:
    machine, execution_input, matches, paused_at_end, versions = TASKS[task]
    function.faults = [Fault(matches, error, after_running=landed)]

    execution = start(machine, execution_input)

    assert execution["status"] == "SUCCEEDED", execution
    assert item_now(dynamodb)["is_paused"] == {"BOOL": paused_at_end}
    assert version(dynamodb) == versions  # each step wrote once, its retry answered as its own success
    assert len(backoff) == 1  # one retry, after one backoff
