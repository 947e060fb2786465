"""A stand-in for AWS IoT Core's HTTPS data plane, in front of a real MQTT broker (local_stack/broker.py).

The publisher and the repair (functions/scheduler/push_topic.py) call IoT Core through botocore's ``iot-data``
client: ``Publish`` (POST /topics/{topic}?qos=&retain=) and ``GetRetainedMessage`` (GET
/retainedMessage/{topic}). Pointed here (IOT_DATA_ENDPOINT), that same code publishes to the local broker, where
the watchers subscribe. Only those two operations exist; signatures are not checked (as DynamoDB Local does not).

``answer`` is the HTTP surface over any ``MessageStore``: the broker-backed one here, or the in-memory one the
unit tests use (tests/fake_iot_data.py).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, unquote


class Retained(NamedTuple):
    payload: bytes
    qos: int
    last_modified_ms: int


class MessageStore(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None: ...

    def retained(self, topic: str) -> Retained | None: ...


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


def answer(store: MessageStore, method: str, path: str, query: str, body: bytes) -> Answer:
    """What IoT Core's data plane answers to one request (its error shape: ``{"message": ...}`` with the
    error's name in ``x-amzn-ErrorType``)."""
    arguments = {name: values[-1] for name, values in parse_qs(query).items()}
    if method == "POST" and path.startswith("/topics/"):
        topic = unquote(path.removeprefix("/topics/"))
        qos = int(arguments.get("qos", "0"))
        if qos not in (0, 1) or not topic:
            return _error(400, "InvalidRequestException", "qos must be 0 or 1, and a topic given")
        store.publish(topic, body, qos, arguments.get("retain", "false") == "true")
        return Answer(200, b"", {"Content-Type": "application/json"})
    if method == "GET" and path.startswith("/retainedMessage/"):
        topic = unquote(path.removeprefix("/retainedMessage/"))
        held = store.retained(topic)
        if held is None:
            return _error(404, "ResourceNotFoundException", f"No retained message on {topic}")
        document = {
            "topic": topic,
            "payload": base64.b64encode(held.payload).decode(),
            "qos": held.qos,
            "lastModifiedTime": held.last_modified_ms,
        }
        return Answer(200, json.dumps(document).encode(), {"Content-Type": "application/json"})
    return _error(404, "ResourceNotFoundException", f"No such operation here: {method} {path}")


def _error(status: int, kind: str, message: str) -> Answer:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": kind}
    return Answer(status, json.dumps({"message": message}).encode(), headers)


class InMemoryStore:
    """Retained messages in a dict, as IoT Core keeps them (the unit tests' data plane)."""

    def __init__(self) -> None:
        self.messages: dict[str, Retained] = {}
        self.published: deque[tuple[str, bytes, bool]] = deque(maxlen=1000)  # the latest, for tests
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        with self._lock:
            self.published.append((topic, payload, retain))
            if retain:  # an empty retained payload clears the topic's retained message (MQTT 3.1.1, 3.3.1.3)
                if payload:
                    self.messages[topic] = Retained(payload, qos, int(time.time() * 1000))
                else:
                    self.messages.pop(topic, None)

    def retained(self, topic: str) -> Retained | None:
        with self._lock:
            return self.messages.get(topic)


class BrokerStore:
    """Publishes to the local MQTT broker, and reads a topic's retained message from the broker itself, with a
    fresh subscription, as IoT Core's GetRetainedMessage answers what the broker holds: a message retained by
    anyone (a forged or poisoned one too) is seen, as the repair on AWS would see it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._connected = threading.Event()
        self._client = _mqtt_client("local-iot-data-plane")
        self._client.on_connect = lambda *_: self._connected.set()
        self._client.on_disconnect = lambda *_: self._connected.clear()
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not self._connected.is_set():
            raise ConnectionError("the local MQTT broker is not connected")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=5)
        if not info.is_published():
            raise ConnectionError("the local MQTT broker did not acknowledge the publish")

    def retained(self, topic: str, timeout: float = 5.0) -> Retained | None:
        """What the broker retains on ``topic`` now. A subscription gets the retained message right after its
        SUBACK; a second subscription's SUBACK comes after it on the same connection, so once that arrives,
        everything retained has (no wait on a clock, no message published to find out)."""
        marker = f"local-iot-data-plane/marker/{uuid.uuid4().hex}"
        found: list[Retained] = []
        done = threading.Event()
        reader = _mqtt_client(f"local-iot-data-plane-read-{uuid.uuid4().hex[:12]}")
        marker_mid: list[int] = []

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            if message.retain and message.topic == topic:
                found.append(Retained(message.payload, message.qos, int(time.time() * 1000)))

        def on_subscribe(_client: Any, _userdata: Any, mid: int, *_: Any) -> None:
            if mid in marker_mid:
                done.set()

        reader.on_message = on_message
        reader.on_subscribe = on_subscribe
        try:
            reader.connect(self.host, self.port, keepalive=30)
        except OSError as error:
            raise ConnectionError(f"the local MQTT broker cannot be reached: {error}") from error
        try:
            reader.subscribe(topic, qos=1)
            marker_mid.append(reader.subscribe(marker, qos=1)[1])  # known before any callback can run
            reader.loop_start()
            if not done.wait(timeout):
                raise ConnectionError("the local MQTT broker did not answer a subscription")
        finally:
            reader.disconnect()
            reader.loop_stop()
        return found[-1] if found else None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _mqtt_client(client_id: str) -> Any:
    import paho.mqtt.client as mqtt  # noqa: PLC0415 - the broker client only when the data plane starts
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415 - the broker client only when the data plane starts

    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)


def wsgi_app(store: MessageStore) -> Any:
    """The HTTP surface as a WSGI application (served by werkzeug in the local stack)."""

    def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        result = answer(
            store,
            environ["REQUEST_METHOD"],
            environ.get("RAW_URI", environ["PATH_INFO"]).split("?")[0],
            environ.get("QUERY_STRING", ""),
            body,
        )
        start_response(f"{result.status} {'OK' if result.status == 200 else 'Error'}", list(result.headers.items()))
        return [result.body]

    return application
