"""The push connection over TLS, as on AWS (mqtts:// and the SigV4-signed wss:// of IoT Core), against a scripted
broker whose certificate a throwaway CA (trustme) signs, trusted through SSL_CERT_FILE as the system's CAs are."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from botocore.credentials import ReadOnlyCredentials

from scheduler_client import push
from scheduler_client.push import PushConnection, PushEvents, PushUrl, parse_push_url

WAIT = 20.0  # seconds any one step may take on a slow machine; a passing run takes milliseconds
TOPIC = "scheduler-control/test/pause"
RETAINED = b'{"is_paused": true}'


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    """A CA the client trusts as it trusts the system's (paho's tls_set() loads the default verify paths)."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return authority


class TlsBroker:
    """One TLS connection on 127.0.0.1, served by ``script`` with the server's end of it."""

    def __init__(self, ca: trustme.CA, script: Callable[[ssl.SSLSocket], None]) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]

        def serve() -> None:
            connection, _ = self.server.accept()
            connection.settimeout(WAIT)
            with context.wrap_socket(connection, server_side=True) as tls:
                script(tls)

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.thread.join(WAIT)
        self.server.close()


@pytest.fixture
def events() -> tuple[PushEvents, threading.Event, list[bytes]]:
    subscribed, messages = threading.Event(), list[bytes]()
    return PushEvents(subscribed.set, messages.append, lambda error: None), subscribed, messages


def test_a_message_tls_has_already_read_is_handed_out_without_waiting_for_the_socket(
    ca: trustme.CA, events: tuple[PushEvents, threading.Event, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SUBACK and the retained message come in one TLS record: the client reads one packet a time, so the
    message waits in TLS's buffer, where poll(2) on the socket cannot see it. The next loop hands it out at once."""
    handlers, subscribed, messages = events
    goodbye = threading.Event()

    def script(tls: ssl.SSLSocket) -> None:
        tls.recv(1024)  # CONNECT
        tls.sendall(bytes([0x20, 0x02, 0x00, 0x00]))
        subscribe = tls.recv(1024)
        publish = bytes([0x31, 2 + len(TOPIC) + len(RETAINED), 0, len(TOPIC)]) + TOPIC.encode() + RETAINED
        tls.sendall(bytes([0x90, 0x03]) + subscribe[2:4] + bytes([0x01]) + publish)  # one record
        goodbye.wait(WAIT)

    broker = TlsBroker(ca, script)
    connection = PushConnection(parse_push_url(f"mqtts://127.0.0.1:{broker.port}/{TOPIC}"), "node-1", handlers)
    try:
        connection.open()
        for _ in range(100):  # bounded: each answer is on the wire already
            if subscribed.is_set():
                break
            connection.loop(0.2)
        assert subscribed.is_set()
        waits: list[float] = []

        def recorded(readers: list[int], writers: list[int], timeout: float) -> tuple[set[int], set[int]]:
            waits.append(timeout)
            return real_wait(readers, writers, timeout)

        real_wait = push.wait_for_io
        monkeypatch.setattr(push, "wait_for_io", recorded)
        waiting = threading.Thread(target=connection.loop, args=(3600.0,))  # an hour, unless TLS has bytes
        waiting.start()
        waiting.join(WAIT)
        assert messages == [RETAINED]
        assert not waiting.is_alive()
        assert waits == [0.0]  # it did not wait on the socket at all: the bytes were TLS's already
    finally:
        connection.close()  # also wakes a loop still waiting
        goodbye.set()
        broker.close()


def test_the_signed_websocket_url_is_asked_for_over_tls_as_iot_core_takes_it(ca: trustme.CA) -> None:
    upgrade: list[bytes] = []

    def script(tls: ssl.SSLSocket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:  # bounded: the client sends one request, then waits
            chunk = tls.recv(4096)
            if not chunk:
                break
            request += chunk
        upgrade.append(request)

    broker = TlsBroker(ca, script)
    url: PushUrl = parse_push_url(f"wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com/{TOPIC}")
    url = url._replace(host="127.0.0.1", port=broker.port)
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "secret", None)
    handlers = PushEvents(lambda: None, lambda _: None, lambda _: None)
    connection = PushConnection(url, "node-1", handlers, credentials=lambda: credentials, region="eu-west-1")
    try:
        with pytest.raises(ConnectionError):  # the scripted broker hangs up instead of upgrading
            connection.open()
    finally:
        connection.abandon()
        broker.close()

    request_line = upgrade[0].split(b"\r\n", 1)[0].decode()
    assert request_line.startswith("GET /mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&")
    assert "X-Amz-Credential=AKIDEXAMPLE%2F" in request_line
    assert "%2Feu-west-1%2Fiotdevicegateway%2Faws4_request" in request_line
    assert request_line.endswith(" HTTP/1.1")
