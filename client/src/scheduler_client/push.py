"""Push: the switch as AWS IoT Core (or the local stack's broker) pushes it, one retained MQTT message per stage.

A push URL names where to subscribe and what::

    wss://<prefix>-ats.iot.<region>.amazonaws.com/<topic>   AWS IoT Core: MQTT over WebSocket, SigV4-presigned
    mqtts://<host>[:8883]/<topic>                            MQTT over TLS (a broker of your own)
    mqtt://127.0.0.1:<port>/<topic>                          plain MQTT: the local stack only (loopback)
    ws://127.0.0.1:<port>/<topic>                            plain MQTT over WebSocket: the local stack only

The stack's ``PushUrl`` output is the first form; ``make run`` prints the last two (the WebSocket one takes the
same path through the watcher as IoT Core's, without the signature). The client id a node connects
with is the topic's stage prefix (``scheduler-control/prod/pause`` gives ``scheduler-control-prod-node-``, which
the stack's NodePolicy allows) and a random part, new for every connection owner (a process, a watcher).

MQTT is paho-mqtt (Eclipse, maintained, pure Python, no dependency of its own), used without its own thread:
the watcher's one thread drives the connection (``PushConnection.loop``). The WebSocket URL is signed the way
AWS IoT documents it for ``iotdevicegateway``: a SigV4 query signature over ``GET /mqtt`` with only ``host``
signed, the session token appended *after* signing, fresh from botocore's credential chain for every connect.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, urlsplit

import paho.mqtt.client as mqtt
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from paho.mqtt.enums import CallbackAPIVersion

from scheduler_client.signing import is_loopback
from scheduler_client.state import SchedulerState
from scheduler_contract.convergence import from_the_future
from scheduler_contract.message import decode_message

IOT_SERVICE = "iotdevicegateway"
PRESIGNED_SECONDS = 300  # the URL only has to be valid when the connection opens
_IOT_HOST = re.compile(r"^[a-z0-9-]+\.iot\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_DEFAULT_PORTS = {"wss": 443, "mqtts": 8883, "mqtt": 1883, "ws": 80}
_LOOPBACK_ONLY = ("mqtt", "ws")  # unencrypted, unauthenticated: the local stack's


class PushUrlInvalid(ValueError):
    """A push URL of a form this client does not connect to; the message says which forms it takes."""


class PushUrl(NamedTuple):
    scheme: str
    host: str
    port: int
    topic: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.topic}"

    @property
    def region(self) -> str | None:
        """The AWS region of an IoT Core endpoint; None for any other host."""
        match = _IOT_HOST.match(self.host.lower())
        return match.group(1) if match else None

    @property
    def client_id_prefix(self) -> str:
        """``scheduler-control/prod/pause`` gives ``scheduler-control-prod-node-`` (the NodePolicy's prefix)."""
        *stage_path, _ = self.topic.split("/")
        return "-".join(stage_path or [self.topic]) + "-node-"


def parse_push_url(url: str) -> PushUrl:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    topic = parts.path.lstrip("/")
    forms = (
        "wss://<IoT data endpoint>/<topic>, mqtts://<host>/<topic>, "
        "or mqtt:// or ws://127.0.0.1:<port>/<topic> (the local stack)"
    )
    if scheme not in _DEFAULT_PORTS or not parts.hostname or not topic or parts.query or parts.fragment:
        raise PushUrlInvalid(f"Not a push URL: {url!r}. It is {forms}.")
    if "#" in url or "+" in topic or "" in topic.split("/"):
        raise PushUrlInvalid(f"The topic of {url!r} is not one topic name (no wildcards, no empty levels).")
    if scheme in _LOOPBACK_ONLY and not is_loopback(url):
        raise PushUrlInvalid(f"Plain {scheme}:// is for the local stack on loopback only; on a network use {forms}.")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as error:
        raise PushUrlInvalid(f"Not a push URL: {url!r} ({error}).") from None
    return PushUrl(scheme, parts.hostname, port, topic)


def new_client_id(url: PushUrl) -> str:
    """The prefix the node policy allows, and 64 random bits: unique per connection owner."""
    return url.client_id_prefix + secrets.token_hex(8)


def presigned_path(url: PushUrl, credentials: Any, region: str) -> str:
    """The WebSocket path (``/mqtt?X-Amz-...``) that signs in to AWS IoT Core with ``credentials`` (botocore's
    frozen credentials: access key, secret key and an optional session token)."""
    unsigned_token = Credentials(credentials.access_key, credentials.secret_key)  # the token is added after
    request = AWSRequest(method="GET", url=f"https://{url.host}/mqtt")
    SigV4QueryAuth(unsigned_token, IOT_SERVICE, region, expires=PRESIGNED_SECONDS).add_auth(request)
    path = str(request.url).split(url.host, 1)[1]
    if credentials.token:
        path += "&X-Amz-Security-Token=" + quote(credentials.token, safe="")
    return path


def message_state(payload: bytes, now_ms: int | None = None) -> SchedulerState | None:
    """The state a push message carries (the contract's, docs/protocol.md); None for a payload that is not a
    whole message of the contract, or whose tag is from the future (forged: no entry was made then), which is
    ignored."""
    message = decode_message(payload)
    if message is None:
        return None
    if from_the_future(message.tag, int(time.time() * 1000) if now_ms is None else now_ms):
        return None
    return SchedulerState(message.is_paused, message.etag, message.updated_at)


def wait_for_io(readers: list[int], writers: list[int], timeout: float) -> tuple[set[int], set[int]]:
    """The descriptors of ``readers`` that can be read (or have ended) and of ``writers`` that can be written,
    waiting at most ``timeout`` seconds: poll(2), which takes a descriptor of any number. (Windows has no poll,
    and its select() takes any socket.)"""
    if not hasattr(select, "poll"):
        can_read, can_write, _ = select.select(readers, writers, [], timeout)
        return set(can_read), set(can_write)
    poller = select.poll()
    masks: dict[int, int] = {}
    for fd in readers:
        masks[fd] = masks.get(fd, 0) | select.POLLIN
    for fd in writers:
        masks[fd] = masks.get(fd, 0) | select.POLLOUT
    for fd, mask in masks.items():
        poller.register(fd, mask)
    readable: set[int] = set()
    writable: set[int] = set()
    for fd, event in poller.poll(max(0.0, timeout) * 1000):
        if event & (select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL):
            readable.add(fd)  # an end or an error is read too: paho's read then says the connection is lost
        if event & select.POLLOUT:
            writable.add(fd)
    return readable, writable


class PushRefused(ConnectionError):
    """The broker refused this node (credentials, authorisation): retried slowly, and logged loudly."""


# CONNACK reason codes (paho gives MQTT 3.1.1's return codes as MQTT 5's): bad user name or password (3.1.1: 4),
# not authorised (5), banned, bad authentication method. The rest (server unavailable, busy, quota) are transient.
CREDENTIAL_REFUSALS = frozenset({0x86, 0x87, 0x8A, 0x8C})


class PushEvents(NamedTuple):
    """What a connection tells its owner, from inside ``loop``."""

    subscribed: Callable[[], None]
    message: Callable[[bytes], None]
    lost: Callable[[Exception], None]


class PushConnection:
    """One MQTT connection, subscribed to the URL's topic, with no thread of its own: ``loop`` does its I/O."""

    def __init__(  # noqa: PLR0913 - keyword-only, each one a property of the connection
        self,
        url: PushUrl,
        client_id: str,
        events: PushEvents,
        *,
        credentials: Callable[[], Any] | None = None,
        region: str | None = None,
        connect_timeout: float = 5.0,
        keepalive: int = 30,
    ) -> None:
        self.url = url
        self.events = events
        self.keepalive = keepalive
        self._closed = False
        self._io = threading.Lock()  # _closed, _looping and the wake pair, shared by loop() and close()
        self._looping = False
        self._wake_r: socket.socket | None = None  # close() from another thread wakes loop() through this pair
        self._wake_w: socket.socket | None = None
        transport: Literal["websockets", "tcp"] = "websockets" if url.scheme in ("wss", "ws") else "tcp"
        self._mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, transport=transport
        )
        self._mqtt.connect_timeout = connect_timeout
        if url.scheme in ("wss", "mqtts"):
            self._mqtt.tls_set()  # the system's CAs: IoT Core's ATS endpoint chains to Amazon Root CA 1
        if url.scheme == "wss":
            if credentials is None or region is None:
                raise PushUrlInvalid(f"{url} needs AWS credentials and a region to sign the WebSocket URL.")
            self._credentials, self._region = credentials, region
        self._mqtt.on_connect = self._on_connect
        self._mqtt.on_subscribe = self._on_subscribe
        self._mqtt.on_message = self._on_message
        self._mqtt.on_disconnect = self._on_disconnect

    def open(self) -> None:
        """Connect (TCP, TLS, WebSocket and the MQTT CONNECT: blocking, at most ``connect_timeout`` for each
        step). The CONNACK, the subscription and the retained message come in later ``loop`` calls, and a
        broker's no to these credentials with them (``events.lost``). Raises ConnectionError/OSError when the
        broker cannot be reached, or does not take the TLS handshake or the WebSocket upgrade."""
        if self.url.scheme == "wss":
            self._mqtt.ws_set_options(path=presigned_path(self.url, self._credentials(), self._region))
        elif self.url.scheme == "ws":
            self._mqtt.ws_set_options(path="/mqtt")  # IoT Core's path; a local broker takes any
        # A refused WebSocket upgrade raises paho's WebsocketConnectionError, a ConnectionError: paho (2.2) does not
        # say with which status, so IoT Core's 403 is retried as an outage is (docs/protocol.md).
        self._mqtt.connect(self.url.host, self.url.port, keepalive=self.keepalive)
        with self._io:
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)

    def loop(self, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for the connection's I/O and handle it (events fire from here).

        paho's own ``loop()`` waits with select(2), which cannot watch a descriptor numbered 1024 or more: in a
        process with that many files open (a busy server, a benchmark's fleet) every such connection would end
        as "lost" at once, again and again. This waits with poll(2) (``wait_for_io``) and hands paho the reads
        and writes, as its documentation says an application's own event loop may."""
        with self._io:
            if self._closed:
                self._release_wake()
                return
            self._looping = True
        try:
            result = self._step(timeout)
        finally:
            with self._io:
                self._looping = False
                if self._closed:
                    self._release_wake()
        if result not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN) and not self._closed:
            self._closed = True
            self.events.lost(ConnectionError(f"the connection to {self.url.host} ended ({mqtt.error_string(result)})"))

    def _step(self, timeout: float) -> Any:
        sock, wake = self._mqtt.socket(), self._wake_r
        if sock is None or wake is None:
            return mqtt.MQTT_ERR_NO_CONN
        pending = sock.pending() if hasattr(sock, "pending") else 0  # TLS bytes already read, not yet handed out
        fd, wake_fd = sock.fileno(), wake.fileno()
        readable, writable = wait_for_io(
            [fd, wake_fd], [fd] if self._mqtt.want_write() else [], 0.0 if pending else timeout
        )
        # A wake (close() from another thread) needs no reading: the loop returns, sees the connection closed and
        # releases the pair; no loop() runs on it again.
        result = mqtt.MQTT_ERR_SUCCESS
        if fd in readable or pending:
            result = self._mqtt.loop_read()
        if result == mqtt.MQTT_ERR_SUCCESS and fd in writable and self._mqtt.socket() is not None:
            result = self._mqtt.loop_write()
        if result == mqtt.MQTT_ERR_SUCCESS:
            result = self._mqtt.loop_misc()
        return result

    def close(self) -> None:
        """Say goodbye (DISCONNECT) and close; safe from another thread, where it also wakes ``loop``."""
        with self._io:
            self._closed = True
        self._mqtt.disconnect()
        with self._io:
            if self._looping and self._wake_w is not None:
                with contextlib.suppress(OSError):  # full: a wake is already pending
                    self._wake_w.send(b"\0")
            else:
                self._release_wake()  # no loop() is waiting, and none will run again: the pair ends here

    def _release_wake(self) -> None:
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        self._wake_r = self._wake_w = None

    def abandon(self) -> None:
        """Close the socket without a word: a forked child's copy of its parent's connection, which the parent
        still uses (a DISCONNECT from here would end the parent's session)."""
        self._closed = True
        sock = self._mqtt.socket()
        if sock is not None:
            sock.close()
        for end in (self._wake_r, self._wake_w):  # no lock: the parent's thread may have held it at fork()
            if end is not None:
                end.close()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            self._closed = True
            client.disconnect()
            # Only a "no" to these credentials is a refusal (retried slowly); "server unavailable" or "busy"
            # after a broker restart is an outage like any other, retried with the usual backoff.
            refusal = PushRefused if reason.value in CREDENTIAL_REFUSALS else ConnectionError
            self.events.lost(refusal(f"{self.url.host} refused the connection: {reason}"))
            return
        client.subscribe(self.url.topic, qos=1)

    def _on_subscribe(self, client: Any, _userdata: Any, _mid: int, reasons: Any, _properties: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            self._closed = True
            client.disconnect()
            self.events.lost(PushRefused(f"{self.url.host} refused the subscription to {self.url.topic}"))
            return
        self.events.subscribed()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if message.topic == self.url.topic:
            self.events.message(message.payload)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if not self._closed:
            self._closed = True
            self.events.lost(ConnectionError(f"disconnected from {self.url.host}: {reason}"))
