"""A newcomer's first hour: restart right after Ctrl-C, `make invoke` as `sam local invoke` behaves, recovery
from an unclean stop, one-line errors, DynamoDB Local without telemetry, one correlation id per request."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack.template import PROJECT_ROOT
from tests.integration.conftest import LocalStack, is_alive, local_stack_command

pytestmark = pytest.mark.integration


def make_invoke(data_dir: Path, event: str, function: str | None = None) -> subprocess.CompletedProcess[str]:
    """`make invoke` itself: what a newcomer types."""
    variables = [f"EVENT={event}", *([f"FUNCTION={function}"] if function else [])]
    make = shutil.which("make")
    assert make is not None
    return subprocess.run(  # noqa: S603 - make, from the project
        [make, "--no-print-directory", "invoke", *variables],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DATA_DIR": str(data_dir)},
    )


def test_a_restart_right_after_ctrl_c_takes_the_same_port_at_once(tmp_path: Path) -> None:
    first = LocalStack(tmp_path / "dynamodb").start()
    try:
        # A keep-alive client reads its answer and holds the connection: on Ctrl-C the server closes it first,
        # which leaves the server's port in TIME_WAIT once the client closes too.
        with socket.create_connection(("127.0.0.1", first.port), timeout=10) as client:
            client.sendall(b"GET /scheduler/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            assert first.stop(signal.SIGINT) == 0
            while client.recv(4096):  # the rest of the answer, then the server's close (bounded by the timeout)
                pass
    finally:
        first.stop()
    second = LocalStack(tmp_path / "dynamodb", port=first.port).start()  # fails the test if the port is refused
    try:
        assert requests.get(second.url, timeout=10).status_code == 200
    finally:
        second.stop()


def test_a_port_someone_listens_on_is_still_refused_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = local_stack_command(tmp_path, "run", "--port", str(port))

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    offered = re.fullmatch(
        rf"error: Port {port} is busy \(Address already in use\)\. Pick another: PORT=(\d+) make run", line
    )
    assert offered is not None, line
    assert int(offered.group(1)) > port


def test_a_port_offered_instead_is_free_and_none_the_stack_uses_itself() -> None:
    from local_stack.dynamodb_local import STACK_DEFAULT_PORTS, suggest_port

    offered = suggest_port(2999, avoid={3001})

    assert offered not in STACK_DEFAULT_PORTS | {3001}
    assert offered > 2999
    assert 3000 in STACK_DEFAULT_PORTS
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", offered))  # free


def test_a_busy_dynamodb_port_is_one_line_naming_dynamodb_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = local_stack_command(tmp_path, "run", "--port", "0", "--dynamodb-port", str(port))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"DYNAMODB_PORT={port + 1}" in lines[0]
    assert "Exception" not in result.stderr


def test_dynamodb_local_failing_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    env = {**os.environ, "JAVA_TOOL_OPTIONS": "-Xmx1k"}  # a JVM that cannot start

    result = local_stack_command(tmp_path, "run", "--port", "0", env=env)

    assert result.returncode == 1
    assert "DynamoDB Local exited at start" in result.stderr
    assert "DynamoDB Local log" in result.stderr


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP], ids=["kill-9", "terminal-closed"])
def test_invoke_after_an_unclean_stop_starts_its_own_database(tmp_path: Path, how: signal.Signals) -> None:
    data_dir = tmp_path / "dynamodb"
    stack = LocalStack(data_dir).start()
    assert stack.process is not None
    stack.process.send_signal(how)
    stack.process.wait(timeout=30)
    assert stack.dynamodb_pid is not None
    assert stack.broker_pid is not None
    children = (stack.dynamodb_pid, stack.broker_pid)
    for _ in range(100):  # DynamoDB Local and the broker follow their parent (PR_SET_PDEATHSIG); bounded wait
        if not any(is_alive(pid) for pid in children):
            break
        threading_wait(0.1)
    assert not is_alive(stack.dynamodb_pid)
    assert not is_alive(stack.broker_pid)  # as root too: the broker keeps its user, so the signal holds
    if how == signal.SIGHUP:
        assert stack.process.returncode == 0
        assert not (data_dir / "endpoint").exists()

    result = make_invoke(data_dir, "events/get.json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["statusCode"] == 200


def threading_wait(seconds: float) -> None:
    import threading

    threading.Event().wait(seconds)


def test_make_invoke_prints_the_answer_alone_as_one_json_document(tmp_path: Path) -> None:
    result = make_invoke(tmp_path, "events/pause.json")

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # nothing else on stdout: no command echo, no log line
    assert answer["statusCode"] == 201
    assert "Scheduler pause state changed" in result.stderr  # the logs are on stderr


def test_a_function_error_is_lambdas_error_shape_on_stdout_and_a_non_zero_exit(tmp_path: Path) -> None:
    result = make_invoke(tmp_path, "events/direct/resume-if-unchanged.json")

    assert result.returncode != 0
    error = json.loads(result.stdout)
    assert error["errorType"] == "SchedulerPreconditionFailed"
    assert re.fullmatch(r'the scheduler is at version 1 \("1\.r\.[0-9a-z]{12}"\)', error["errorMessage"])
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("event", "message"),
    [("events/none-such.json", "No event file at events/none-such.json"), ("README.md", "is not valid JSON")],
    ids=["missing", "not-json"],
)
def test_a_bad_event_file_is_one_clear_line(tmp_path: Path, event: str, message: str) -> None:
    result = make_invoke(tmp_path, event)

    assert result.returncode != 0
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert message in errors[0]


def test_another_function_of_the_template_can_be_invoked(tmp_path: Path) -> None:
    result = make_invoke(tmp_path, "events/cloudformation/create.json", function="SchedulerEntryFunction")

    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)  # what CloudFormation would have received
    assert answer["Status"] == "SUCCESS"
    assert answer["LogicalResourceId"] == "SchedulerEntry"


@pytest.mark.usefixtures("fresh_entry")
def test_each_local_request_has_its_own_correlation_id(local_stack: LocalStack, http: requests.Session) -> None:
    earlier = len(local_stack.lines)
    http.patch(local_stack.url, json={"is_paused": True})
    http.patch(local_stack.url, json={"is_paused": False})
    http.patch(local_stack.url, json={"is_paused": True})

    logged = [json.loads(line) for line in local_stack.lines[earlier:] if line.startswith('{"level"')]
    flips = [line["correlation_id"] for line in logged if line["message"] == "Scheduler pause state changed"]
    assert len(flips) == 3
    assert len(set(flips)) == 3


def test_dynamodb_local_runs_without_telemetry_and_writes_nothing_into_the_project(local_stack: LocalStack) -> None:
    assert local_stack.dynamodb_pid is not None
    arguments = Path(f"/proc/{local_stack.dynamodb_pid}/cmdline").read_bytes().split(b"\0")

    assert b"-disableTelemetry" in arguments
    assert arguments[arguments.index(b"-cors") + 1] == b"http://127.0.0.1"
    assert not (PROJECT_ROOT / "dynamodb-local-metadata.json").exists()


def test_a_second_stack_on_the_same_data_folder_is_refused_naming_the_running_one(
    own_stack: LocalStack, tmp_path: Path
) -> None:
    from local_stack.dynamodb_local import free_port

    assert own_stack.process is not None
    second = local_stack_command(
        own_stack.data_dir, "run", "--port", str(free_port()), "--mqtt-port", "0", "--mqtt-ws-port", "0"
    )

    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert line.startswith(f"error: A local stack already runs on {own_stack.data_dir}")
    assert f"pid {own_stack.process.pid}, {own_stack.url}" in line
    assert requests.get(own_stack.url, timeout=10).status_code == 200  # the running one is untouched
