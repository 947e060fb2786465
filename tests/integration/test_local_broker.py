"""The local broker behaves as AWS IoT Core does for what nodes use, checked with third-party clients: Eclipse
Mosquitto's own command-line subscriber in MQTT 5 and 3.1.1, and paho-mqtt in MQTT 5. The retained message
reaches a subscriber of its topic exactly once and no other topic at all; MQTT over WebSocket works too, and the
watcher's WebSocket path runs against it. A marker published after the retained message is the synchronisation:
MQTT keeps one topic's messages in order, so what comes before the marker has all arrived."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.publish
import pytest

from local_stack.broker import TOPIC, LocalBroker
from scheduler_client import PauseWatcher, SchedulerClient
from scheduler_contract.message import encode_message
from scheduler_contract.tags import Tag

WAIT = 20.0
RETAINED = encode_message(Tag(8, True, "mk3x0a9z7q2c"), None)
MARKER = b"marker"
OTHER_TOPIC = "some/other/topic"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with LocalBroker(tmp_path / "broker") as running:
        paho.mqtt.publish.single(TOPIC, RETAINED, qos=1, retain=True, hostname="127.0.0.1", port=running.port)
        yield running


class MosquittoSub:
    """mosquitto_sub with its debug lines, which say when the SUBACK came; it exits after two messages."""

    def __init__(self, broker: LocalBroker, version: str, topic: str) -> None:
        command = shutil.which("mosquitto_sub")
        if command is None:
            pytest.fail("mosquitto_sub is missing: apt-get install mosquitto-clients (make test does it as root)")
        # stdbuf: its lines as they come (a pipe would hold the debug lines back until it exits).
        connection = ["-h", "127.0.0.1", "-p", str(broker.port), "-V", version]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed third-party client
            ["stdbuf", "-oL", command, "-d", *connection, "-q", "1", "-t", topic, "-C", "2", "-W", str(int(WAIT))],  # noqa: S607
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.payloads: list[str] = []

    def wait_for_suback(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "received SUBACK" in line:
                return
            self._keep(line)
        pytest.fail("mosquitto_sub ended without a SUBACK")

    def rest(self) -> list[str]:
        """Every payload it printed, once it has exited (two messages, or WAIT seconds)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._keep(line)
        assert self.process.wait(WAIT) == 0, self.payloads
        return self.payloads

    def _keep(self, line: str) -> None:
        if not line.startswith(("Client ", "Subscribed ")):  # debug lines; the payloads are the others
            self.payloads.append(line.rstrip("\n"))


@pytest.mark.parametrize("version", ["mqttv5", "mqttv311"])
def test_mosquitto_sub_gets_the_retained_message_once(broker: LocalBroker, version: str) -> None:
    subscriber = MosquittoSub(broker, version, TOPIC)
    try:
        subscriber.wait_for_suback()
        paho.mqtt.publish.single(TOPIC, MARKER, qos=1, hostname="127.0.0.1", port=broker.port)
        assert subscriber.rest() == [RETAINED.decode(), MARKER.decode()]  # the second is the marker: no copy
    finally:
        subscriber.process.kill()


@pytest.mark.parametrize("version", ["mqttv5", "mqttv311"])
def test_a_subscriber_to_another_topic_never_gets_the_retained_message(broker: LocalBroker, version: str) -> None:
    subscriber = MosquittoSub(broker, version, OTHER_TOPIC)
    try:
        subscriber.wait_for_suback()
        for _ in range(2):
            paho.mqtt.publish.single(OTHER_TOPIC, MARKER, qos=1, hostname="127.0.0.1", port=broker.port)
        assert subscriber.rest() == [MARKER.decode(), MARKER.decode()]
    finally:
        subscriber.process.kill()


class Received:
    """paho's on_message, recorded by topic, with a wait for what has arrived."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[bytes]] = {TOPIC: [], OTHER_TOPIC: []}
        self._arrived = threading.Condition()

    def __call__(self, client: Any, userdata: Any, message: Any) -> None:
        with self._arrived:
            self.by_topic[message.topic].append(message.payload)
            self._arrived.notify_all()

    def wait_until(self, done: Callable[[dict[str, list[bytes]]], bool]) -> dict[str, list[bytes]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: done(self.by_topic), WAIT), self.by_topic
            return {topic: list(payloads) for topic, payloads in self.by_topic.items()}


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_paho_in_mqtt5_gets_the_retained_message_once_and_only_on_its_topic(
    broker: LocalBroker, transport: Literal["tcp", "websockets"]
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = Received()
    subscribed = threading.Event()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, transport=transport)
    subscriber.on_message = received
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.connect("127.0.0.1", broker.port if transport == "tcp" else broker.ws_port)
    subscriber.subscribe([(TOPIC, 1), (OTHER_TOPIC, 1)])
    subscriber.loop_start()
    try:
        assert subscribed.wait(WAIT)
        for topic in (OTHER_TOPIC, TOPIC):
            paho.mqtt.publish.single(topic, MARKER, qos=1, hostname="127.0.0.1", port=broker.port)
        seen = received.wait_until(lambda by_topic: all(MARKER in payloads for payloads in by_topic.values()))
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert seen == {TOPIC: [RETAINED, MARKER], OTHER_TOPIC: [MARKER]}


def test_the_watcher_follows_the_switch_over_the_local_websocket(broker: LocalBroker) -> None:
    """The watcher's WebSocket path (as to IoT Core, without the signature) against the real broker."""
    client = SchedulerClient("http://127.0.0.1:9/scheduler/", timeout=1.0)  # no API: push alone must do it
    watcher = PauseWatcher(client, broker.ws_url())
    try:
        assert watcher.start(wait=WAIT).ready
        assert watcher.state is not None
        assert (watcher.state.etag, watcher.is_paused(), watcher.source) == ('"8.p.mk3x0a9z7q2c"', True, "push")
        resumed = encode_message(Tag(9, False, "mk3x0a9z7q2c"), None)
        changed = threading.Event()
        watcher.on_change = lambda old, new: changed.set()
        paho.mqtt.publish.single(TOPIC, resumed, qos=1, retain=True, hostname="127.0.0.1", port=broker.port)
        assert changed.wait(WAIT)
        assert watcher.is_paused() is False
    finally:
        watcher.stop()


def test_the_retained_message_survives_a_restart_of_the_broker(broker: LocalBroker) -> None:
    """As IoT Core keeps it through its own outages: nodes that reconnect get it at once."""
    broker.stop()
    broker.start()

    subscriber = MosquittoSub(broker, "mqttv5", TOPIC)
    try:
        subscriber.wait_for_suback()
        paho.mqtt.publish.single(TOPIC, MARKER, qos=1, hostname="127.0.0.1", port=broker.port)
        assert subscriber.rest() == [RETAINED.decode(), MARKER.decode()]
    finally:
        subscriber.process.kill()
