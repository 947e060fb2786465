"""Push on the local stack, end to end: a PATCH committed in DynamoDB Local, its stream record through the
publisher (the function's own code) and the IoT data-plane stand-in, a real MQTT broker (amqtt), and watchers
subscribed with paho-mqtt. Every wait here is on an event with a bound, never a sleep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack.broker import LocalBroker
from local_stack.dynamodb_local import free_port
from local_stack.template import PROJECT_ROOT
from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState
from tests.integration.conftest import TABLE_NAME, LocalStack

WAIT = 20.0  # seconds any one step may take on a slow machine; a passing run takes milliseconds


class CountingClient(SchedulerClient):
    """The real client, counting the HTTP requests the watcher makes."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=2.0)
        self.requests = 0

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        self.requests += 1
        return super().get_if_changed(etag, retry=retry)


class Changes:
    """on_change, recorded, with a way to wait for the next one."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool]] = []
        self._arrived = threading.Condition()

    def __call__(self, old: bool, new: bool) -> None:
        with self._arrived:
            self.seen.append((old, new))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[bool, bool]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.seen) >= count, WAIT), self.seen
            return list(self.seen)


def patch(stack: LocalStack, is_paused: bool) -> str:
    """PATCH the switch; returns the ETag of the state it made."""
    answer = requests.patch(stack.url, json={"is_paused": is_paused}, timeout=WAIT)
    assert answer.status_code == 201, answer.text
    return answer.headers["ETag"]


def eventually(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds, looking every 50 ms, for at most WAIT seconds."""
    tick = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        tick.wait(0.05)
    assert condition(), "not within the wait"


def wait_until_retained(stack: LocalStack, etag: str) -> None:
    """Until a watcher that connects now gets ``etag`` by push: the publish is retained."""
    probe, _, _ = watcher_on(stack)
    try:
        probe.start(wait=WAIT)
        eventually(lambda: probe.state is not None and probe.state.etag == etag)
    finally:
        probe.stop()


@pytest.fixture
def new_entry(local_stack: LocalStack) -> str:
    """An entry created afresh (a new incarnation, not paused): whatever an earlier test left retained is older."""
    from scheduler_service import store

    incarnation = store.new_incarnation(datetime.now(UTC))
    item = {
        "pk": {"S": "scheduler"},
        "is_paused": {"BOOL": False},
        "version": {"N": "1"},
        "incarnation": {"S": incarnation},
        "updated_at": {"S": datetime.now(UTC).isoformat()},
        "updated_by": {"S": "test-setup"},
    }
    local_stack.dynamodb().put_item(TableName=TABLE_NAME, Item=item)
    return f'"1.r.{incarnation}"'


def watcher_on(
    stack: LocalStack, api_url: str | None = None, **options: Any
) -> tuple[PauseWatcher, CountingClient, Changes]:
    client = CountingClient(api_url or stack.url)
    changes = Changes()
    watcher = PauseWatcher(client, stack.push_url, on_change=changes, **options)
    return watcher, client, changes


def test_a_patch_reaches_a_subscribed_watcher_by_push_with_no_http_request(
    local_stack: LocalStack, new_entry: str
) -> None:
    watcher, client, changes = watcher_on(local_stack)
    try:
        watcher.start(wait=WAIT)
        eventually(lambda: watcher.state is not None and watcher.state.etag == new_entry)
        assert (watcher.status.value, watcher.source) == ("subscribed", "push")
        assert changes.seen == [(True, False)]  # paused before its first value, which resumes
        patch(local_stack, True)
        assert changes.wait_for(2) == [(True, False), (False, True)]
        patch(local_stack, False)
        assert changes.wait_for(3) == [(True, False), (False, True), (True, False)]
        assert watcher.is_paused() is False
        assert client.requests == 0
    finally:
        watcher.stop()


@pytest.mark.usefixtures("new_entry")
def test_the_retained_state_is_the_first_value_while_the_api_is_unreachable(local_stack: LocalStack) -> None:
    paused = patch(local_stack, True)
    closed = f"http://127.0.0.1:{free_port()}/scheduler/"  # nothing listens there
    wait_until_retained(local_stack, paused)
    watcher, client, _ = watcher_on(local_stack, closed)
    try:
        watcher.start(wait=WAIT)
        assert (watcher.ready, watcher.is_paused(), watcher.source) == (True, True, "push")
        assert client.requests == 0
    finally:
        watcher.stop()


def stop_broker(stack: LocalStack) -> None:
    assert stack.broker_pid is not None
    os.kill(stack.broker_pid, signal.SIGKILL)  # not our child: the stack's process reaps it


@pytest.fixture
def drill_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack of the test's own that serves on when its broker dies (``--broker-outages``): `make run` stops."""
    stack = LocalStack(tmp_path / "dynamodb", options=("--broker-outages",)).start()
    try:
        yield stack
    finally:
        stack.stop()


def test_broker_down_polling_takes_over_and_broker_back_push_again(drill_stack: LocalStack, tmp_path: Path) -> None:
    own_stack = drill_stack
    statuses: list[str] = []
    status_changed = threading.Condition()
    watcher, client, changes = watcher_on(own_stack, interval=0.5, fleet_size=1)

    def on_status(_old: Any, new: Any) -> None:
        with status_changed:
            statuses.append(new.value)
            status_changed.notify_all()

    watcher.add_status_listener(on_status)
    try:
        watcher.start(wait=WAIT)
        assert watcher.status.value == "subscribed"

        stop_broker(own_stack)
        with status_changed:
            assert status_changed.wait_for(lambda: "polling" in statuses, WAIT), statuses
        patch(own_stack, True)  # flipped while push is down: a poll sees it
        assert changes.wait_for(2) == [(True, False), (False, True)]
        assert watcher.source == "poll"

        with LocalBroker(tmp_path / "broker-again", port=own_stack.mqtt_port):
            with status_changed:
                assert status_changed.wait_for(lambda: statuses[-1] == "subscribed", WAIT), statuses
            polls = client.requests
            patch(own_stack, False)  # the stack's publisher has reconnected too: push brings it
            assert changes.wait_for(3)[-1] == (True, False)
            assert watcher.source in ("push",)  # (mypy narrowed it to "poll" above)
            assert client.requests == polls  # subscribed again: no poll since
            watcher.stop()
    finally:
        watcher.stop()


def test_both_down_the_last_value_is_kept_and_fail_closed_pauses_after_max_staleness(own_stack: LocalStack) -> None:
    kept, _, kept_changes = watcher_on(own_stack, interval=0.2)
    closed, _, closed_changes = watcher_on(own_stack, interval=0.2, fail_closed=True, max_staleness=1.0)
    try:
        for watcher in (kept, closed):
            watcher.start(wait=WAIT)
            assert watcher.is_paused() is False

        stop_broker(own_stack)
        own_stack.stop()  # the API too
        assert closed_changes.wait_for(2) == [(True, False), (False, True)]  # paused once stale

        assert kept.is_paused() is False  # fail static: the last value, however old
        assert kept_changes.seen == [(True, False)]
        age = kept.age()
        assert age is not None
        assert age > 0
    finally:
        kept.stop()
        closed.stop()


def test_scheduler_watch_with_push_names_the_source_and_age_of_each_line(
    local_stack: LocalStack, new_entry: str
) -> None:
    wait_until_retained(local_stack, new_entry)
    command = [sys.executable, "-m", "scheduler_client", "watch", "--json", "--url", local_stack.url]
    process = subprocess.Popen(  # noqa: S603 - our own command
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SCHEDULER_PUSH_URL": local_stack.push_url},
    )
    try:
        assert process.stdout is not None
        lines: list[dict[str, Any]] = []
        reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in process.stdout))  # type: ignore[union-attr]
        reader.start()
        eventually(lambda: bool(lines))
        assert (lines[0]["is_paused"], lines[0]["source"], lines[0]["status"]) == (False, "push", "subscribed")
        assert lines[0]["age"] == 0
        patch(local_stack, True)
        eventually(lambda: len(lines) > 1)
        assert (lines[-1]["is_paused"], lines[-1]["source"]) == (True, "push")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=WAIT)
    assert process.returncode == 0


def test_every_message_the_local_stack_publishes_validates_against_the_protocols_schema(
    local_stack: LocalStack, new_entry: str
) -> None:
    """A plain MQTT subscriber (paho, no code of ours) records what the stack publishes: the retained message
    and each flip's; every one is valid by docs/protocol/push-message.schema.json and names the state made."""
    import paho.mqtt.client as mqtt
    from jsonschema import Draft202012Validator
    from paho.mqtt.enums import CallbackAPIVersion

    schema = json.loads((PROJECT_ROOT / "docs" / "protocol" / "push-message.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    received: list[bytes] = []
    arrived = threading.Condition()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        with arrived:
            received.append(message.payload)
            arrived.notify_all()

    def wait_for_tag(etag: str) -> None:
        with arrived:
            assert arrived.wait_for(lambda: any(json.loads(m).get("etag") == etag for m in received), WAIT), received

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", local_stack.mqtt_port)
    subscriber.subscribe("scheduler-control/local/pause", qos=1)
    subscriber.loop_start()
    try:
        wait_for_tag(new_entry)
        made = [patch(local_stack, True), patch(local_stack, False)]
        for etag in made:
            wait_for_tag(etag)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()

    for payload in received:
        validator.validate(json.loads(payload))
    assert {json.loads(payload)["etag"] for payload in received} >= {new_entry, *made}


def test_a_watcher_on_a_topic_that_delivers_nothing_follows_the_api_within_push_timeout_and_interval(
    local_stack: LocalStack, new_entry: str
) -> None:
    """A wrong topic on the real broker: CONNACK and SUBACK come, no message ever does. The watcher is never
    "subscribed", and it follows the API's flips by polling."""
    wrong_topic = local_stack.push_url.replace("/pause", "/wrong")
    client = CountingClient(local_stack.url)
    changes = Changes()
    watcher = PauseWatcher(client, wrong_topic, on_change=changes, push_timeout=2.0, interval=1.0)
    try:
        watcher.start(wait=WAIT)
        assert watcher.state is not None
        assert watcher.state.etag == new_entry
        assert watcher.status.value != "subscribed"
        patch(local_stack, True)
        assert changes.wait_for(2) == [(True, False), (False, True)]
        assert watcher.source == "poll"
        assert watcher.status.value == "polling"
    finally:
        watcher.stop()
