"""`scheduler agent` against the local stack (`make run`: DynamoDB Local, Mosquitto, the publisher), run as a
node runs it and read as nodes in other languages read it: curl (plain, --etag-compare, and a Prefer: wait that
wakes on a flip) and OpenFeature's SDK through its OFREP provider. The API is reached through a counting proxy,
so the tests see every request the agent makes upstream: none while push is subscribed; polls when push is
down; and with both down, the value it had, kept. Every wait is bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import LocalStack
from tests.integration.lossy_proxy import LossyProxy

pytestmark = pytest.mark.integration
WAIT = 30.0  # a loaded 2-core machine: the interpreter's start, the first message, a flip's way through


class RunningAgent:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "scheduler_client", "agent", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def health(self) -> dict[str, Any]:
        document: dict[str, Any] = requests.get(self.url + "livez", timeout=5).json()
        return document

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def proxy(local_stack: LocalStack) -> Iterator[LossyProxy]:
    with LossyProxy(local_stack.url.removesuffix("/scheduler/")) as counting:
        yield counting


@pytest.fixture
def agents() -> Iterator[Callable[..., RunningAgent]]:
    started: list[RunningAgent] = []

    def start(*args: str) -> RunningAgent:
        started.append(RunningAgent(*args))
        return started[-1]

    yield start
    for agent in started:
        agent.stop()


def until(condition: Callable[[], bool], what: str) -> None:
    tick = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        tick.wait(0.05)
    assert condition(), what


def patch(stack: LocalStack, is_paused: bool) -> str:
    answer = requests.patch(stack.url, json={"is_paused": is_paused}, timeout=10)  # straight to the API
    assert answer.status_code == 201, answer.text
    return answer.headers["ETag"]


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - curl, fixed arguments
        ["curl", "--silent", "--show-error", "--max-time", str(WAIT), *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=WAIT + 10,
        check=True,
    )


@pytest.mark.usefixtures("fresh_entry")
def test_curl_reads_it_plain_with_etag_compare_and_waits_for_a_flip_with_nothing_upstream(
    local_stack: LocalStack, proxy: LossyProxy, agents: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    agent = agents("--url", proxy.url, "--push", local_stack.push_url)
    until(lambda: agent.health()["status"] == "subscribed", "the agent did not subscribe")
    upstream_at_start = len(proxy.forwarded)
    scheduler = agent.url + "scheduler/"
    etag_file = tmp_path / "etag"

    plain = curl(scheduler)
    saved = curl("--etag-save", str(etag_file), "--write-out", "%{http_code}", "--output", os.devnull, scheduler)
    compared = curl("--etag-compare", str(etag_file), "--write-out", "%{http_code}", scheduler)
    held = subprocess.Popen(  # noqa: S603 - a shell node blocking until the switch flips
        [
            *("curl", "--silent", "--max-time", str(WAIT), "--write-out", "\n%{http_code}"),
            *("-H", f"If-None-Match: {etag_file.read_text().strip()}", "-H", "Prefer: wait=60", scheduler),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    until(lambda: agent.health()["waiting"] == 1, "the curl request was not held")
    flipped = patch(local_stack, True)
    woken, _ = held.communicate(timeout=WAIT + 10)
    after = requests.get(scheduler, timeout=5)

    assert json.loads(plain.stdout) == {"is_paused": False}
    assert saved.stdout == "200"
    assert compared.stdout == "304"
    body, status = woken.rsplit("\n", 1)
    assert (status, json.loads(body)) == ("200", {"is_paused": True})
    assert after.headers["ETag"] == flipped  # the API's own tag
    assert len(proxy.forwarded) == upstream_at_start == 0  # no request upstream: push brought everything


@pytest.mark.usefixtures("fresh_entry")
def test_openfeatures_sdk_follows_a_flip_through_the_agent(
    local_stack: LocalStack, proxy: LossyProxy, agents: Callable[..., RunningAgent]
) -> None:
    from openfeature import api
    from openfeature.contrib.provider.ofrep import OFREPProvider

    agent = agents("--url", proxy.url, "--push", local_stack.push_url)
    until(lambda: agent.health()["ready"], "no first value")
    api.set_provider(OFREPProvider(agent.url), domain="local-stack-agent")
    client = api.get_client(domain="local-stack-agent")
    try:
        before = client.get_boolean_value("scheduler.paused", True)
        patch(local_stack, True)
        until(lambda: client.get_boolean_value("scheduler.paused", False) is True, "the SDK never saw the pause")
        details = client.get_boolean_details("scheduler.paused", False)
    finally:
        api.clear_providers()

    assert before is False
    assert (details.value, details.variant) == (True, "paused")
    assert details.flag_metadata["version"] == 2
    assert len(proxy.forwarded) == 0


@pytest.mark.usefixtures("fresh_entry")
def test_with_push_down_it_polls_and_with_both_down_it_keeps_its_value(
    local_stack: LocalStack, proxy: LossyProxy, agents: Callable[..., RunningAgent]
) -> None:
    from local_stack.dynamodb_local import free_port

    no_broker = f"mqtt://127.0.0.1:{free_port()}/scheduler-control/local/pause"
    agent = agents("--url", proxy.url, "--push", no_broker, "--interval", "1")
    until(lambda: agent.health()["ready"], "no first value by polling")
    patch(local_stack, True)
    until(lambda: agent.health()["is_paused"] is True, "polling did not follow the flip")
    polling = agent.health()

    proxy.__exit__(None, None, None)  # the API goes away too
    until(lambda: agent.health()["last_error"] is not None, "the failing polls were not reported")
    both_down = agent.health()
    answer = requests.get(agent.url + "scheduler/", timeout=5)

    assert (polling["status"], polling["source"]) == ("polling", "poll")
    assert len(proxy.forwarded) >= 2
    assert both_down["is_paused"] is True  # fail static: the last value known
    assert (answer.status_code, answer.json()) == (200, {"is_paused": True})
