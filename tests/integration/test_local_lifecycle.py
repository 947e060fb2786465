"""`make run`'s promises: data survives a restart, a stop leaves no process behind, errors are clear."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from local_stack.template import PROJECT_ROOT
from tests.integration.conftest import LocalStack, is_alive, local_stack_command

pytestmark = pytest.mark.integration


def test_a_pause_survives_a_restart_and_stopping_leaves_no_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "dynamodb"
    first = LocalStack(data_dir).start()
    try:
        assert requests.get(first.url, timeout=10).json() == {"is_paused": False}
        assert requests.patch(first.url, json={"is_paused": True}, timeout=10).status_code == 201
    finally:
        exit_code = first.stop()
    assert exit_code == 0
    assert first.dynamodb_pid is not None
    assert not is_alive(first.dynamodb_pid)

    second = LocalStack(data_dir).start()
    try:
        answer = requests.get(second.url, timeout=10)
    finally:
        exit_code = second.stop(signal.SIGINT)  # Ctrl-C
    assert answer.json() == {"is_paused": True}
    assert answer.headers["ETag"].startswith('"2.p.')
    assert exit_code == 0
    assert second.dynamodb_pid is not None
    assert not is_alive(second.dynamodb_pid)


def test_invoke_runs_an_event_file_against_the_local_database(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "local_stack", "--data-dir", str(tmp_path), "invoke", "events/pause.json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    import json

    answer = json.loads(result.stdout)
    assert answer["statusCode"] == 201
    assert json.loads(answer["body"]) == {"is_paused": True}


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # the venv, and no java

    result = local_stack_command(tmp_path, "run", "--port", "0", env=env)

    assert result.returncode != 0
    assert "Java is not installed" in result.stderr
