"""The local stack as a newcomer runs it (`python -m local_stack run`, what `make run` calls), started on
free ports with its own data folder, driven over real HTTP, and always stopped by the fixture."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack.dynamodb_local import free_port
from local_stack.template import PROJECT_ROOT
from tests.conftest import ENTRY_INCARNATION

STARTUP_SECONDS = 120  # DynamoDB Local's JVM and the imports, on a slow CI machine
# A stack these tests start without naming its MQTT port takes a free one, never the developer's 1883.
os.environ.setdefault("MQTT_PORT", "0")
TABLE_NAME = "scheduler-local"  # what local_stack creates


class LocalStack:
    """One `python -m local_stack run` process and the DynamoDB Local it starts."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.options = options
        self.env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/scheduler/"
        self.lines: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.dynamodb_pid: int | None = None
        self.dynamodb_endpoint: str | None = None
        self.mqtt_port = free_port()
        self.push_url = f"mqtt://127.0.0.1:{self.mqtt_port}/scheduler-control/local/pause"
        self.ws_port = free_port()
        self.ws_push_url = f"ws://127.0.0.1:{self.ws_port}/scheduler-control/local/pause"
        self.broker_pid: int | None = None

    def start(self) -> LocalStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [
                *(sys.executable, "-m", "local_stack", "--data-dir", str(self.data_dir), "run"),
                *("--port", str(self.port), "--mqtt-port", str(self.mqtt_port), "--mqtt-ws-port", str(self.ws_port)),
                *self.options,
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(ready,), daemon=True).start()
        # The stack prints its banner once it serves; the reader also sets `ready` if the process ends.
        if not ready.wait(STARTUP_SECONDS) or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"the local stack did not start:\n{self.output()}")
        match = re.search(r"DynamoDB Local: (\S+) \(pid (\d+)\)", self.output())
        assert match, self.output()
        self.dynamodb_endpoint, self.dynamodb_pid = match.group(1), int(match.group(2))
        push = re.search(r"Push: (\S+) \(MQTT broker pid (\d+)\)", self.output())
        assert push, self.output()
        assert push.group(1) == self.push_url
        self.broker_pid = int(push.group(2))
        assert f"Push over WebSocket: {self.ws_push_url}" in self.output(), self.output()
        return self

    def _read_output(self, ready: threading.Event) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace"))
            if line.startswith(b"Ctrl-C stops it"):
                ready.set()
        ready.set()

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int | None:
        """SIGTERM (a service manager) or SIGINT (Ctrl-C); returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for child in (self.dynamodb_pid, self.broker_pid):
            if child is not None and is_alive(child):
                os.kill(child, signal.SIGKILL)
        return self.process.returncode

    def dynamodb(self) -> Any:
        """A client on the stack's DynamoDB Local, for arranging and checking the stored item."""
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.dynamodb_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # DynamoDB Local takes any
        )


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; its parent (the stopped stack) is gone, so it is reaped soon.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("local-stack") / "dynamodb").start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of the test's own, to stop and start (or to stop its broker) without disturbing the others."""
    stack = LocalStack(tmp_path / "dynamodb").start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def fresh_entry(local_stack: LocalStack) -> dict[str, Any]:
    """Put the entry back as a deploy creates it (not paused, version 1) before a test. Written over the live
    item, this older state would be a change that goes back in time, which the publisher and the repair heal
    (a new incarnation); so the item is removed and the retained message cleared first, and the entry comes as a
    new one, published as such."""
    import paho.mqtt.publish

    client = local_stack.dynamodb()
    client.delete_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}})
    paho.mqtt.publish.single(
        "scheduler-control/local/pause", b"", qos=1, retain=True, hostname="127.0.0.1", port=local_stack.mqtt_port
    )
    item = {
        "pk": {"S": "scheduler"},
        "is_paused": {"BOOL": False},
        "version": {"N": "1"},
        "incarnation": {"S": ENTRY_INCARNATION},
        "updated_at": {"S": "2026-01-01T00:00:00.000+00:00"},
        "updated_by": {"S": "test-setup"},
    }
    client.put_item(TableName=TABLE_NAME, Item=item)
    return item


def stored_item(stack: LocalStack) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        stack.dynamodb().get_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}}, ConsistentRead=True).get("Item")
    )
    return item


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def local_stack_command(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m local_stack --data-dir DIR ARGS`, run to its end (for start-up errors and `invoke`)."""
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "local_stack", "--data-dir", str(data_dir), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
