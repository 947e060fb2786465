"""Push URLs, the SigV4-presigned WebSocket URL of AWS IoT Core (checked against tests/client/sigv4_reference.py,
a second implementation that shares no code with botocore), the retained message's payload, and the order in which
states supersede each other."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.credentials import ReadOnlyCredentials

from scheduler_client import push
from scheduler_client.push import (
    PushConnection,
    PushEvents,
    PushRefused,
    PushUrl,
    PushUrlInvalid,
    message_state,
    new_client_id,
    parse_push_url,
    presigned_path,
)
from scheduler_client.state import SchedulerState, supersedes
from tests.client import sigv4_reference

ENDPOINT = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com"
AWS_URL = f"wss://{ENDPOINT}/scheduler-control/prod/pause"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "topic", "region"),
    [
        (AWS_URL, "wss", ENDPOINT, 443, "scheduler-control/prod/pause", "eu-west-1"),
        (
            "mqtt://127.0.0.1:1883/scheduler-control/local/pause",
            "mqtt",
            "127.0.0.1",
            1883,
            "scheduler-control/local/pause",
            None,
        ),
        ("mqtt://localhost/x/y", "mqtt", "localhost", 1883, "x/y", None),
        ("mqtts://broker.example.com/a/b/c", "mqtts", "broker.example.com", 8883, "a/b/c", None),
        ("mqtts://broker.example.com/XR/prod/pause", "mqtts", "broker.example.com", 8883, "XR/prod/pause", None),
    ],
)
def test_push_urls_name_the_broker_and_the_topic(
    url: str, scheme: str, host: str, port: int, topic: str, region: str | None
) -> None:
    parsed = parse_push_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.topic, parsed.region) == (scheme, host, port, topic, region)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://example.com/topic", "It is wss://"),
        ("wss://example.com/", "It is wss://"),
        ("wss://example.com/a/#", "no wildcards"),
        ("wss://example.com/a//b", "no empty levels"),
        ("mqtt://10.0.0.5:1883/a/b", "loopback only"),
        ("wss://example.com/a?x=1", "It is wss://"),
        ("wss://example.com/a/b#", "no wildcards"),  # an empty fragment is still a '#'
        ("wss://example.com/a/+/b", "no wildcards"),
        ("mqtt://127.0.0.1:99999/a/b", "Not a push URL: 'mqtt://127.0.0.1:99999/a/b'"),
        ("ws://example.com/a", "Plain ws:// is for the local stack on loopback only"),
        ("http://127.0.0.1/a", "or mqtt:// or ws://127.0.0.1:<port>/<topic> \\(the local stack\\)"),
    ],
)
def test_other_urls_are_refused_with_the_forms_that_work(url: str, says: str) -> None:
    with pytest.raises(PushUrlInvalid, match=says):
        parse_push_url(url)


def test_the_local_stacks_websocket_url_is_taken_on_loopback() -> None:
    url = parse_push_url("ws://127.0.0.1:1884/scheduler-control/local/pause")

    assert url == PushUrl("ws", "127.0.0.1", 1884, "scheduler-control/local/pause")
    assert url.region is None


def test_client_ids_are_the_node_policys_prefix_and_64_random_bits() -> None:
    url = parse_push_url(AWS_URL)
    ids = {new_client_id(url) for _ in range(1000)}
    assert len(ids) == 1000
    for client_id in ids:
        prefix, _, random_part = client_id.rpartition("-")
        assert prefix == "scheduler-control-prod-node"
        assert len(random_part) == 16
        assert int(random_part, 16) >= 0


def reference_signature(query: str) -> str:
    """What the second implementation signs for a presigned GET /mqtt with this query (its signature left out)."""
    pairs = parse_qsl(query)
    signed = "&".join(f"{name}={value}" for name, value in pairs if name != "X-Amz-Signature")
    return sigv4_reference.signature(
        method="GET",
        url=f"https://{ENDPOINT}/mqtt?{signed}",
        headers={"host": ENDPOINT},
        signed_headers=["host"],
        body=b"",
        secret=SECRET,
        amz_date=dict(pairs)["X-Amz-Date"],
        region="eu-west-1",
        service="iotdevicegateway",
    )


def test_the_websocket_url_is_signed_for_iotdevicegateway_as_a_second_implementation_computes_it() -> None:
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", SECRET, None)

    path = presigned_path(parse_push_url(AWS_URL), credentials, "eu-west-1")

    parts = urlsplit(path)
    assert parts.path == "/mqtt"
    query = dict(parse_qsl(parts.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    key, date, region, service, terminal = query["X-Amz-Credential"].split("/")
    assert (key, region, service, terminal) == ("AKIDEXAMPLE", "eu-west-1", "iotdevicegateway", "aws4_request")
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Expires"] == "300"  # only the connect needs it: five minutes, not botocore's hour
    assert query["X-Amz-Date"].startswith(date)
    assert (
        abs(
            (
                datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) - datetime.now(UTC)
            ).total_seconds()
        )
        < 300
    )
    assert "X-Amz-Security-Token" not in query
    assert query["X-Amz-Signature"] == reference_signature(parts.query)


def test_a_session_token_is_appended_after_signing_as_aws_iot_asks() -> None:
    token = "FwoGZXIvYXdzE+/token=="
    with_token = presigned_path(parse_push_url(AWS_URL), ReadOnlyCredentials("AKIDEXAMPLE", SECRET, token), "eu-west-1")

    head, _, tail = with_token.rpartition("&X-Amz-Security-Token=")
    assert tail == "FwoGZXIvYXdzE%2B%2Ftoken%3D%3D"  # percent-encoded, after the signature
    query = dict(parse_qsl(urlsplit(head).query))
    assert query["X-Amz-Signature"] == reference_signature(urlsplit(head).query)


def test_the_retained_message_gives_the_state_its_tag_and_time() -> None:
    payload = (
        b'{"is_paused":true,"etag":"\\"8.p.mk3x0a9z7q2c\\"","version":8,"updated_at":"2026-12-01T08:00:00.000+00:00"}'
    )
    assert message_state(payload) == SchedulerState(True, '"8.p.mk3x0a9z7q2c"', datetime(2026, 12, 1, 8, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[]",
        b'{"is_paused": true}',
        b'{"is_paused": "yes", "etag": "\\"8.p.x\\""}',
        b'{"is_paused": false, "etag": "\\"8.p.x\\""}',  # the tag says paused
        b'{"is_paused": true, "etag": "8.p.x"}',  # not quoted: not an entity tag
        b'{"is_paused": true, "etag": "\\"7\\""}',  # the old form
        b'{"is_paused": true, "etag": 8}',  # a tag that is no text
    ],
)
def test_a_payload_the_service_did_not_make_gives_nothing(payload: bytes) -> None:
    assert message_state(payload) is None


@pytest.mark.parametrize(
    ("incoming", "held", "newer"),
    [
        ('"2.p.b"', '"1.r.b"', True),
        ('"1.r.b"', '"2.p.b"', False),
        ('"1.r.c"', '"9.p.b"', True),  # a re-created entry: a later incarnation
        ('"9.p.a"', '"1.r.b"', False),  # an old entry's late message
        ('"0.p"', '"9.r.b"', True),  # restored by hand
        ('"1.r.c"', '"0.p"', True),  # the first write after a restore
        ('"3.p.b"', '"3.r.b"', True),  # a change by hand that pauses
        ('"3.r.b"', '"3.p.b"', False),  # one that resumes is not trusted over paused
        ('"3.p.b"', '"3.p.b"', False),  # a duplicate
        ('"7"', '"3.p.b"', True),  # another form: news when it differs
        ('"7"', '"7"', False),
        ('"3.p.b"', None, True),
    ],
)
def test_which_state_supersedes_which(incoming: str, held: str | None, newer: bool) -> None:
    assert supersedes(incoming, held) is newer


class OneConnackBroker:
    """A broker that answers every CONNECT with one CONNACK return code (MQTT 3.1.1), and nothing else."""

    def __init__(self, return_code: int) -> None:
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]

        def answer() -> None:
            connection, _ = self.server.accept()
            with connection:
                connection.recv(1024)  # the CONNECT
                connection.sendall(bytes([0x20, 0x02, 0x00, return_code]))
                with contextlib.suppress(ConnectionError):  # a client closed before reading the CONNACK resets
                    connection.recv(1024)  # the client's DISCONNECT, or its close

        self.thread = threading.Thread(target=answer, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.thread.join(10)  # its connection closed once the client has gone
        self.server.close()


@pytest.mark.parametrize(
    ("return_code", "refused"),
    [(4, True), (5, True), (3, False), (2, False)],
    ids=["bad credentials", "not authorised", "server unavailable", "identifier rejected"],
)
def test_only_a_no_to_the_credentials_is_a_refusal(return_code: int, refused: bool) -> None:
    from scheduler_client.push import PushConnection, PushEvents, PushRefused, parse_push_url

    broker = OneConnackBroker(return_code)
    lost: list[Exception] = []
    events = PushEvents(subscribed=lambda: None, message=lambda _: None, lost=lost.append)
    connection = PushConnection(
        parse_push_url(f"mqtt://127.0.0.1:{broker.port}/scheduler-control/test/pause"), "node-1", events
    )
    try:
        connection.open()
        for _ in range(50):  # bounded: the CONNACK is already on the wire
            if lost:
                break
            connection.loop(0.1)
    finally:
        connection.close()
        broker.close()
    assert len(lost) == 1
    assert type(lost[0]) is (PushRefused if refused else ConnectionError)  # a refusal is retried slowly
    assert str(lost[0]).startswith("127.0.0.1 refused the connection: ")  # the log names the broker


@pytest.fixture(params=["poll", "select"])
def io_wait(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """wait_for_io as on Linux and macOS (poll), and as on Windows, which has no poll (select)."""
    if request.param == "select":
        monkeypatch.delattr(select, "poll")
    return str(request.param)


def test_wait_for_io_tells_readable_and_writable_apart_for_any_descriptor_number(io_wait: str) -> None:
    left, right = socket.socketpair()
    with left, right:
        assert push.wait_for_io([left.fileno()], [], 0.0) == (set(), set())  # nothing to read yet
        assert push.wait_for_io([], [left.fileno()], 0.0) == (set(), {left.fileno()})
        right.send(b"x")
        assert push.wait_for_io([left.fileno()], [left.fileno()], 0.0) == ({left.fileno()}, {left.fileno()})
        right.close()
        readable, _ = push.wait_for_io([left.fileno()], [], 0.0)
        assert readable == {left.fileno()}  # drained or not, an end is something to read


def test_wait_for_io_says_a_closed_descriptor_is_to_be_read_and_waits_no_longer_than_asked() -> None:
    left, right = socket.socketpair()
    closed = left.fileno()
    left.close()
    right.close()
    assert push.wait_for_io([closed], [], 60.0) == ({closed}, set())  # at once: reading it tells the error


def test_wait_for_io_waits_for_what_comes_within_the_timeout(io_wait: str) -> None:
    left, right = socket.socketpair()
    with left, right:
        sender = threading.Timer(0.05, lambda: right.send(b"x"))
        sender.start()
        assert push.wait_for_io([left.fileno()], [], 30.0) == ({left.fileno()}, set())
        sender.join()


def test_a_message_whose_incarnation_is_from_the_future_is_ignored() -> None:
    """No entry was made after tomorrow: such a tag is forged or corrupt, and would outrank every real state."""
    forged = json.dumps({"is_paused": False, "etag": '"1.r.zzzzzzzzzzzz"', "version": 1, "updated_at": None})
    now_ms = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)

    assert message_state(forged.encode(), now_ms) is None
    assert message_state(message_of_now(now_ms), now_ms) is not None


def message_of_now(now_ms: int) -> bytes:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    number, incarnation = now_ms, ""
    for _ in range(8):
        number, digit = divmod(number, 36)
        incarnation = digits[digit] + incarnation
    etag = f'"3.p.{incarnation}a1b2"'
    return json.dumps({"is_paused": True, "etag": etag, "version": 3, "updated_at": None}).encode()


class OneUpgradeServer:
    """An HTTP server that reads one WebSocket upgrade request, keeps it, and answers it with ``status``."""

    def __init__(self, status: str) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.request = b""

        def answer() -> None:
            connection, _ = self.server.accept()
            with connection:
                connection.settimeout(10)
                # Bounded: the client sends one request, then waits; what is not HTTP (MQTT, TLS) is kept as it came.
                while b"GET ".startswith(self.request[:4]) and b"\r\n\r\n" not in self.request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    self.request += chunk
                connection.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())

        self.thread = threading.Thread(target=answer, daemon=True)
        self.thread.start()

    def __enter__(self) -> OneUpgradeServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join(10)
        self.server.close()


def opened(url: str) -> Exception | None:
    """What PushConnection.open raises for ``url``, if anything; the connection is then let go."""

    events = PushEvents(subscribed=lambda: None, message=lambda _: None, lost=lambda _: None)
    connection = PushConnection(parse_push_url(url), "scheduler-control-test-node-9", events)
    try:
        connection.open()
    except Exception as error:  # which one is each test's assertion
        return error
    finally:
        connection.abandon()
    return None


def test_a_websocket_url_connects_by_an_http_upgrade_to_iot_cores_mqtt_path() -> None:
    with OneUpgradeServer("500 Internal Server Error") as server:
        opened(f"ws://127.0.0.1:{server.port}/scheduler-control/local/pause")

    request_line, *headers = server.request.decode("latin-1").split("\r\n")
    assert request_line == "GET /mqtt HTTP/1.1"
    named = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in headers if line)}
    assert named["upgrade"].lower() == "websocket"
    assert named["sec-websocket-protocol"] == "mqtt"


def test_a_plain_mqtt_url_speaks_mqtt_at_once_without_an_http_upgrade() -> None:
    with OneUpgradeServer("500 Internal Server Error") as server:
        opened(f"mqtt://127.0.0.1:{server.port}/scheduler-control/local/pause")

    assert server.request[:1] == b"\x10"  # MQTT's CONNECT packet type, no "GET"


@pytest.mark.parametrize("status", ["403 Forbidden", "500 Internal Server Error"])
def test_an_upgrade_refused_is_a_connection_error_retried_as_an_outage(status: str) -> None:
    """paho (2.2) does not say what status refused the upgrade, so a 403 from IoT Core (a bad signature, a policy's
    no) cannot be told from a 500: both are lost connections, retried with the usual backoff (docs/protocol.md)."""
    with OneUpgradeServer(status) as server:
        error = opened(f"ws://127.0.0.1:{server.port}/scheduler-control/local/pause")

    assert isinstance(error, ConnectionError)
    assert not isinstance(error, PushRefused)


def test_a_tls_url_opens_with_a_tls_handshake_before_any_mqtt() -> None:
    with OneUpgradeServer("500 Internal Server Error") as server:
        error = opened(f"mqtts://127.0.0.1:{server.port}/scheduler-control/local/pause")

    assert server.request[:1] == b"\x16"  # a TLS handshake record (the ClientHello), not MQTT's CONNECT
    assert isinstance(error, OSError)  # an HTTP answer is no TLS server: the handshake fails


def test_a_signed_websocket_url_is_signed_with_the_connections_credentials_and_region_over_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    signed: list[tuple[PushUrl, object, str]] = []

    def sign(url: PushUrl, credentials: object, region: str) -> str:
        signed.append((url, credentials, region))
        return "/mqtt?signed"

    monkeypatch.setattr(push, "presigned_path", sign)
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "secret", None)
    url = parse_push_url(AWS_URL)
    events = PushEvents(subscribed=lambda: None, message=lambda _: None, lost=lambda _: None)
    with OneUpgradeServer("500 Internal Server Error") as server:
        connection = PushConnection(
            url._replace(host="127.0.0.1", port=server.port), "node-1", events,
            credentials=lambda: credentials, region="eu-west-1",
        )  # fmt: skip
        with pytest.raises(OSError):  # noqa: PT011  # no TLS server answers: only what was sent is asserted
            connection.open()
        connection.abandon()

    assert signed == [(url._replace(host="127.0.0.1", port=server.port), credentials, "eu-west-1")]
    assert server.request[:1] == b"\x16"  # the signed URL goes over TLS, never in the clear


@pytest.mark.parametrize(
    ("credentials", "region"), [(None, "eu-west-1"), (lambda: None, None), (None, None)], ids=["no-credentials",
    "no-region", "neither"]
)  # fmt: skip
def test_a_signed_websocket_url_without_credentials_or_region_is_refused_at_once(
    credentials: object, region: str | None
) -> None:

    events = PushEvents(subscribed=lambda: None, message=lambda _: None, lost=lambda _: None)
    with pytest.raises(PushUrlInvalid, match="needs AWS credentials and a region to sign the WebSocket URL"):
        PushConnection(parse_push_url(AWS_URL), "node-1", events, credentials=credentials, region=region)  # type: ignore[arg-type]


class SubackBroker:
    """A broker that accepts the CONNECT, keeps the SUBSCRIBE, answers it with ``granted`` (0x80 refuses it), and
    then keeps every byte the client sends until it goes."""

    def __init__(self, granted: int) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.subscribe = b""
        self.after = b""

        def answer() -> None:
            connection, _ = self.server.accept()
            with connection:
                connection.settimeout(10)
                connection.recv(1024)  # the CONNECT
                connection.sendall(bytes([0x20, 0x02, 0x00, 0x00]))
                self.subscribe = connection.recv(1024)
                packet_id = self.subscribe[2:4]
                connection.sendall(bytes([0x90, 0x03]) + packet_id + bytes([granted]))
                with contextlib.suppress(OSError):
                    while chunk := connection.recv(1024):  # bounded: until the client closes, or 10 s of silence
                        self.after += chunk

        self.thread = threading.Thread(target=answer, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.thread.join(10)
        self.server.close()


def test_a_refused_subscription_is_one_refusal_naming_the_broker_and_the_topic() -> None:

    broker = SubackBroker(0x80)
    lost: list[Exception] = []
    events = PushEvents(subscribed=lambda: pytest.fail("not subscribed"), message=lambda _: None, lost=lost.append)
    url = parse_push_url(f"mqtt://127.0.0.1:{broker.port}/scheduler-control/test/pause")
    connection = PushConnection(url, "node-1", events)
    try:
        connection.open()
        for _ in range(50):  # bounded: each answer is already on the wire
            connection.loop(0.1)
            if lost and connection._closed:
                break
        connection.loop(0.0)  # what follows the refusal (the broker closing) is no second loss
    finally:
        connection.close()
        broker.close()

    assert [type(error) for error in lost] == [PushRefused]
    assert str(lost[0]) == "127.0.0.1 refused the subscription to scheduler-control/test/pause"
    # SUBSCRIBE (0x82), then the topic, then the options byte: QoS 1, which IoT Core supports (it has no QoS 2)
    assert broker.subscribe[0] == 0x82
    assert broker.subscribe.endswith(b"scheduler-control/test/pause\x01")


def test_without_a_time_given_the_future_is_judged_by_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now_ms = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    monkeypatch.setattr(time, "time", lambda: now_ms / 1000)  # the clock push.message_state reads
    two_days_ms = 2 * 24 * 3600 * 1000

    assert message_state(message_of_now(now_ms)) is not None
    assert message_state(message_of_now(now_ms + two_days_ms)) is None  # made the day after tomorrow: forged


def test_a_time_given_is_the_one_the_future_is_judged_by() -> None:
    made_ms = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    two_days_ms = 2 * 24 * 3600 * 1000

    assert message_state(message_of_now(made_ms), made_ms - two_days_ms) is None  # from that moment's future
    assert message_state(message_of_now(made_ms), made_ms) is not None


def test_a_url_that_is_no_push_url_is_refused_with_every_form_that_works() -> None:
    with pytest.raises(PushUrlInvalid) as refused:
        parse_push_url("https://example.com/topic")

    assert str(refused.value) == (
        "Not a push URL: 'https://example.com/topic'. It is wss://<IoT data endpoint>/<topic>, "
        "mqtts://<host>/<topic>, or mqtt:// or ws://127.0.0.1:<port>/<topic> (the local stack)."
    )


def test_a_connection_closed_before_its_first_loop_leaves_no_descriptor() -> None:

    before = len(os.listdir("/proc/self/fd"))
    broker = OneConnackBroker(0)
    events = PushEvents(subscribed=lambda: None, message=lambda _: None, lost=lambda _: None)
    connection = PushConnection(parse_push_url(f"mqtt://127.0.0.1:{broker.port}/a/b"), "node-1", events)
    try:
        connection.open()  # its socket and its wake pair
    finally:
        connection.close()  # no loop() ever ran, and none waits: everything it opened is closed here
        broker.close()

    assert len(os.listdir("/proc/self/fd")) == before


def test_a_quiet_connection_says_it_is_alive_within_its_keepalive() -> None:
    """MQTT 3.1.1 (3.1.2.10): with nothing else to send, the client sends PINGREQ within the keepalive, or the
    broker ends the connection at one and a half times it."""

    broker = SubackBroker(0x01)
    subscribed = threading.Event()
    events = PushEvents(subscribed=subscribed.set, message=lambda _: None, lost=lambda _: None)
    url = parse_push_url(f"mqtt://127.0.0.1:{broker.port}/scheduler-control/test/pause")
    connection = PushConnection(url, "node-1", events, keepalive=1)
    try:
        connection.open()
        for _ in range(50):  # bounded: at most 5 s for a PINGREQ due after 1 s
            connection.loop(0.1)
            if subscribed.is_set() and b"\xc0\x00" in broker.after:
                break
    finally:
        connection.close()
        broker.close()

    assert subscribed.is_set()
    assert broker.after.startswith(b"\xc0\x00")  # PINGREQ, before the goodbye


class ScriptedPaho:
    """paho's external-loop surface (socket, want_write, loop_read/write/misc), recording which the loop calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.calls = sock, list[str]()

    def connect(self, host: str, port: int, keepalive: int) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def socket(self) -> socket.socket:
        return self.sock

    def want_write(self) -> bool:
        return True  # bytes a partial write left behind

    def loop_read(self) -> int:
        self.calls.append("read")
        return 0

    def loop_write(self) -> int:
        self.calls.append("write")
        return 0

    def loop_misc(self) -> int:
        self.calls.append("misc")
        return 0


def test_bytes_left_behind_are_written_once_the_socket_takes_them_and_never_before() -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    with left, right:
        connection = PushConnection(
            parse_push_url("mqtt://127.0.0.1:1883/scheduler-control/prod/pause"),
            "node-1",
            PushEvents(lambda: None, lambda _: None, lambda _: None),
        )
        paho = ScriptedPaho(left)
        connection._mqtt = cast(Any, paho)
        connection.open()
        try:
            with contextlib.suppress(BlockingIOError):
                for _ in range(100_000):  # bounded: a socket pair's buffer fills within a few megabytes
                    left.send(b"x" * 65536)
            connection.loop(0.0)
            assert paho.calls == ["misc"]  # full: nothing written, nothing waited for

            for _ in range(100_000):  # the broker reads everything: there is room again
                if not _readable(right):
                    break
                right.recv(1 << 20)
            connection.loop(0.0)
            assert paho.calls == ["misc", "write", "misc"]
        finally:
            connection.close()


def _readable(end: socket.socket) -> bool:
    return bool(push.wait_for_io([end.fileno()], [], 0.0)[0])


def test_a_connection_waits_5_s_for_each_step_of_its_connect_and_keeps_alive_every_30_s_by_default() -> None:
    connection = PushConnection(
        parse_push_url("mqtt://127.0.0.1:1883/scheduler-control/prod/pause"),
        "node-1",
        PushEvents(lambda: None, lambda _: None, lambda _: None),
    )
    assert (connection._mqtt.connect_timeout, connection.keepalive) == (5.0, 30)
