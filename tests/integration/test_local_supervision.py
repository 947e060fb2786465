"""`make run` watches what it starts: when DynamoDB Local or the MQTT broker dies under it, one line names the
part, its exit status and the last lines of its log, and the whole stack stops with a non-zero exit within a few
seconds, rather than answering every request with an error. A 500 carries the request id its log line has."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import TABLE_NAME, LocalStack

pytestmark = pytest.mark.integration
STOPS_WITHIN = 15.0  # seconds: the supervisor looks twice a second; stopping the rest takes a few


@pytest.mark.parametrize(
    ("part", "name", "log"),
    [
        ("dynamodb_pid", "DynamoDB Local", "dynamodb-local.log"),
        ("broker_pid", "The MQTT broker (Mosquitto)", "broker.log"),
    ],
    ids=["dynamodb-local", "mosquitto"],
)
def test_a_part_that_dies_stops_the_stack_with_one_line_naming_it(
    tmp_path: Path, part: str, name: str, log: str
) -> None:
    stack = LocalStack(tmp_path / "dynamodb").start()
    try:
        pid = getattr(stack, part)
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        assert stack.process is not None
        code = stack.process.wait(timeout=STOPS_WITHIN)
    finally:
        stack.stop()
    output = stack.output()

    assert code == 1
    [line] = [line for line in output.splitlines() if line.startswith("error: ")]
    said = re.fullmatch(rf"error: {re.escape(name)} \(pid {pid}\) exited \(([^)]*)\): stopping the local stack\.", line)
    assert said is not None, line
    assert said.group(1) in ("status 143, SIGTERM", "status 0", "killed by SIGTERM")  # as each part ends on it
    assert f"  {log}: " in output or f"({log}" in output or "is empty" in output  # its log's last lines
    assert "Traceback" not in output  # one line says what happened; no page of traces hides it


def test_a_500_carries_the_request_id_its_log_line_has(own_stack: LocalStack) -> None:
    own_stack.dynamodb().delete_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}})

    answer = requests.get(own_stack.url, timeout=10)

    assert answer.status_code == 500
    request_id = answer.headers["x-amzn-RequestId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    tick = threading.Event()
    for _ in range(100):  # the log line reaches the stack's output pipe a moment after the answer: bounded
        if request_id in own_stack.output():
            break
        tick.wait(0.05)
    assert request_id in own_stack.output(), "no log line names the request id the answer carries"
