"""`scheduler agent` as a process, as systemd or a container runtime runs it: its URL on the first line, polling
a (scripted) API when push is off, its logs as JSON lines when asked, SIGTERM ending it cleanly within a second,
and a clear usage error for a busy port or an address that is not one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

import pytest
import requests

from tests.client.conftest import ScriptedServer, state_answer

STARTUP_SECONDS = 30  # the interpreter and its imports on a loaded 2-core machine


class AgentProcess:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "scheduler_client", "agent", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def first_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took to end."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=10)
        return code, time.monotonic() - started

    def stderr(self) -> str:
        assert self.process.stderr is not None
        stream: IO[str] = self.process.stderr
        return stream.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start() -> Iterator[type[AgentProcess]]:
    started: list[AgentProcess] = []

    class Tracked(AgentProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for process in started:
        process.kill()


def test_it_prints_its_url_first_serves_the_polled_switch_and_stops_on_sigterm_within_a_second(
    start: type[AgentProcess], server: ScriptedServer
) -> None:
    server.play(state_answer(True, 7))
    agent = start("--url", server.url, "--no-push", "--port", "0", "--interval", "1")

    url = agent.first_line()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/")
    answer = requests.get(url + "scheduler/", timeout=STARTUP_SECONDS)
    for _ in range(STARTUP_SECONDS * 10):  # bounded: the first poll lands within its first second
        if answer.status_code == 200:
            break
        answer = requests.get(url + "scheduler/", headers={"Prefer": "wait=1"}, timeout=STARTUP_SECONDS)
    code, took = agent.stop()

    assert (answer.status_code, answer.json(), answer.headers["ETag"]) == (
        200,
        {"is_paused": True},
        '"7.p.mk3x0a9z7q2c"',
    )
    assert code == 0
    assert took < 1.0


def test_json_logs_are_one_object_a_line(start: type[AgentProcess]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/scheduler/"
    agent = start("--url", dead, "--no-push", "--port", "0", "--log-format", "json")
    agent.first_line()
    assert agent.stop()[0] == 0

    lines = [json.loads(line) for line in agent.stderr().splitlines()]

    assert lines
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any("Serving http://127.0.0.1:" in line["message"] for line in lines)


def test_a_busy_port_is_a_usage_error_that_says_what_to_do(start: type[AgentProcess]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        agent = start("--url", "http://127.0.0.1:9/scheduler/", "--no-push", "--port", str(busy.getsockname()[1]))
        code = agent.process.wait(timeout=STARTUP_SECONDS)

    error = agent.stderr()
    assert code == 2
    assert "--port 0" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("bind", ["localhost", "not an address"])
def test_an_address_that_is_not_an_ip_is_a_usage_error(start: type[AgentProcess], bind: str) -> None:
    agent = start("--url", "http://127.0.0.1:9/scheduler/", "--no-push", "--bind", bind)
    code = agent.process.wait(timeout=STARTUP_SECONDS)

    assert code == 2
    assert "--bind takes an IP address" in agent.stderr()


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_port_that_is_not_one_is_a_usage_error(start: type[AgentProcess], port: str) -> None:
    agent = start("--url", "http://127.0.0.1:9/scheduler/", "--port", port)
    assert agent.process.wait(timeout=STARTUP_SECONDS) == 2
    assert "is not a port" in agent.stderr()


def test_any_other_address_is_served_only_when_asked_and_said_at_start(start: type[AgentProcess]) -> None:
    agent = start("--url", "http://127.0.0.1:9/scheduler/", "--no-push", "--port", "0", "--bind", "0.0.0.0")  # noqa: S104
    url = agent.first_line()
    assert agent.stop()[0] == 0

    assert url.startswith("http://0.0.0.0:")
    assert "reachable from other hosts" in agent.stderr()


def test_help_names_every_route_and_option() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "scheduler_client", "agent", "--help"], capture_output=True, text=True, check=True
    ).stdout

    for text in ("/scheduler/", "OFREP", "/healthz", "Prefer: wait", "--port", "--bind", "--flag-key", "SIGTERM"):
        assert text in shown, text
