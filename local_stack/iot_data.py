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
    """Publishes to the local MQTT broker, and knows its retained messages by subscribing to every topic (a
    retained message arrives on subscribing, later ones as they are published)."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt  # noqa: PLC0415 - the broker client only when the data plane starts
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415 - the broker client only when the data plane starts

        self._messages = InMemoryStore()
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="local-iot-data-plane", protocol=mqtt.MQTTv311
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
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
        self._messages.publish(topic, payload, qos, retain)

    def retained(self, topic: str) -> Retained | None:
        return self._messages.retained(topic)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            return
        self._messages.messages.clear()  # a restarted broker has lost its retained messages
        client.subscribe("#", qos=1)
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        # Only what the broker holds arrives flagged retained (on subscribing); this store's own publishes
        # were recorded as they were made.
        if message.retain:
            self._messages.publish(message.topic, message.payload, message.qos, True)


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
