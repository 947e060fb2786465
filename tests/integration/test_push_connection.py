"""push.PushConnection against the real local broker (amqtt): it subscribes, receives, closes from another thread
and leaves no descriptor behind, also in a process with more than 1,024 files open. Every wait has a bound."""

from __future__ import annotations

import json
import os
import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.publish
import pytest

from local_stack.broker import LocalBroker
from scheduler_client import PauseWatcher, SchedulerClient, WatcherStatus, push
from scheduler_client.push import PushConnection, PushEvents, parse_push_url

WAIT = 20.0  # seconds any one step may take on a slow machine; a passing run takes milliseconds
TOPIC = "scheduler-control/test/pause"
# select(2) takes descriptors up to FD_SETSIZE - 1 (1023 on Linux): the descriptors here are above it.
ABOVE_SELECT = 1100


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    with LocalBroker(tmp_path_factory.mktemp("broker")) as running:
        yield running


class Recorder:
    """What a connection tells its owner, with a bounded wait for it."""

    def __init__(self) -> None:
        self.subscribed, self.received, self.gone = threading.Event(), threading.Event(), threading.Event()
        self.messages: list[bytes] = []
        self.lost: list[Exception] = []
        self.events = PushEvents(self.subscribed.set, self._message, self._lost)

    def _message(self, payload: bytes) -> None:
        self.messages.append(payload)
        self.received.set()

    def _lost(self, error: Exception) -> None:
        self.lost.append(error)
        self.gone.set()

    def drive(self, connection: PushConnection, until: threading.Event | None = None, *, rounds: int = 100) -> None:
        """Run the connection's loop (at most ``rounds`` times 0.2 s) until ``until`` is set or it is lost."""
        until = until or self.subscribed
        for _ in range(rounds):
            if until.is_set() or self.gone.is_set():
                return
            connection.loop(0.2)


def subscribed(url: str, client_id: str) -> tuple[PushConnection, Recorder]:
    """A connection of this test's own, opened and driven until the broker has answered its SUBSCRIBE."""
    recorder = Recorder()
    connection = PushConnection(parse_push_url(url), client_id, recorder.events)
    connection.open()
    recorder.drive(connection)
    assert recorder.subscribed.is_set(), recorder.lost
    return connection, recorder


def loop_in_a_thread(connection: PushConnection, ended: list[str]) -> threading.Thread:
    """``connection.loop(3600)`` in a thread of its own; ``ended`` says "returned" once it has, without an error."""

    def wait() -> None:
        connection.loop(3600.0)
        ended.append("returned")

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def descriptors_above_select() -> Iterator[None]:
    """Fill the descriptor table past 1,023, so the next socket this process opens is numbered above it.
    (paho's own helpers, such as publish.single, wait with select: they go before this, never inside it.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ABOVE_SELECT + 100
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this machine allows {hard} open files; the test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    fillers: list[int] = []
    try:
        while not fillers or fillers[-1] < ABOVE_SELECT:  # bounded: each open takes the lowest free number
            fillers.append(os.open(os.devnull, os.O_RDONLY))
            assert len(fillers) <= ABOVE_SELECT
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def retain(broker: LocalBroker, is_paused: bool, version: int) -> bytes:
    etag = f'"{version}.{"p" if is_paused else "r"}.mk3x0a9z7q2c"'
    payload = json.dumps({"is_paused": is_paused, "etag": etag, "version": version, "updated_at": None}).encode()
    paho.mqtt.publish.single(TOPIC, payload, qos=1, retain=True, hostname="127.0.0.1", port=broker.port)
    return payload


def test_a_connection_subscribes_and_receives_the_retained_message(broker: LocalBroker) -> None:
    payload = retain(broker, True, 7)
    recorder = Recorder()
    connection = PushConnection(parse_push_url(broker.url(TOPIC)), "scheduler-control-test-node-1", recorder.events)
    connection.open()
    try:
        recorder.drive(connection, recorder.received)
    finally:
        connection.close()
    assert recorder.lost == []
    assert recorder.subscribed.is_set()
    assert recorder.messages == [payload]


def test_a_connection_numbered_above_what_select_takes_subscribes_and_stays_up(broker: LocalBroker) -> None:
    recorder = Recorder()
    connection = PushConnection(parse_push_url(broker.url(TOPIC)), "scheduler-control-test-node-2", recorder.events)
    with descriptors_above_select():
        connection.open()
        sock = connection._mqtt.socket()
        assert sock is not None
        assert sock.fileno() >= ABOVE_SELECT
        try:
            recorder.drive(connection)
            assert recorder.lost == []  # paho's own loop() (select) says "connection lost" here, at once, always
            assert recorder.subscribed.is_set()
            for _ in range(5):  # and it stays up: nothing is lost while it waits for more
                connection.loop(0.05)
            assert recorder.lost == []
        finally:
            connection.close()


def test_a_watcher_in_a_process_with_many_files_open_is_subscribed_by_push(broker: LocalBroker) -> None:
    retain(broker, False, 3)
    subscribed = threading.Event()
    unreachable_api = SchedulerClient("http://127.0.0.1:9/scheduler/", timeout=0.5)  # push alone gives the value
    watcher = PauseWatcher(unreachable_api, broker.url(TOPIC))
    watcher.add_status_listener(lambda _old, new: subscribed.set() if new is WatcherStatus.SUBSCRIBED else None)
    with descriptors_above_select(), watcher.start(wait=WAIT):
        assert subscribed.wait(WAIT)
        assert watcher.source == "push"
        assert watcher.is_paused() is False
        assert watcher.status is WatcherStatus.SUBSCRIBED


@pytest.fixture
def polling(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once a loop() has gone into its wait for I/O (so that a close() comes while it waits, not before)."""
    entered = threading.Event()
    real = push.wait_for_io

    def watched(reads: list[int], writes: list[int], timeout: float) -> tuple[set[int], set[int]]:
        entered.set()
        return real(reads, writes, timeout)

    monkeypatch.setattr(push, "wait_for_io", watched)
    return entered


def test_close_from_another_thread_ends_a_long_wait_and_leaves_no_descriptor(
    broker: LocalBroker, polling: threading.Event
) -> None:
    before = open_descriptors()
    connection, recorder = subscribed(broker.url(TOPIC), "scheduler-control-test-node-3")
    ended: list[str] = []
    waiting = loop_in_a_thread(connection, ended)  # an hour, unless close() wakes it
    assert polling.wait(WAIT)
    connection.close()
    waiting.join(WAIT)
    assert ended == ["returned"]  # woken, and without an error
    assert recorder.lost == []  # a close is no loss
    assert open_descriptors() == before


def test_the_wake_alone_ends_the_wait_of_a_connection_that_stays_silent(
    broker: LocalBroker, polling: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Here close() says nothing to the broker, so the broker never closes the socket: only the wake can end the
    # hour-long wait (as with a broker that has stopped answering, or a network that drops the goodbye).
    connection, recorder = subscribed(broker.url(TOPIC), "scheduler-control-test-node-7")
    monkeypatch.setattr(connection._mqtt, "disconnect", lambda *args, **kwargs: None)
    ended: list[str] = []
    waiting = loop_in_a_thread(connection, ended)
    assert polling.wait(WAIT)
    connection.close()
    waiting.join(WAIT)
    connection.abandon()  # the socket the silent close left open
    assert ended == ["returned"]
    assert recorder.lost == []


def test_a_connection_closed_while_no_loop_waits_leaves_no_descriptor(broker: LocalBroker) -> None:
    before = open_descriptors()
    connection, recorder = subscribed(broker.url(TOPIC), "scheduler-control-test-node-4")
    connection.close()
    assert open_descriptors() == before
    connection.loop(0.0)  # a loop after the close does nothing, and tells nothing
    assert recorder.lost == []


def test_an_abandoned_connection_leaves_no_descriptor(broker: LocalBroker) -> None:
    before = open_descriptors()
    connection, recorder = subscribed(broker.url(TOPIC), "scheduler-control-test-node-5")
    connection.abandon()
    assert open_descriptors() == before
    ended: list[str] = []
    waiting = loop_in_a_thread(connection, ended)
    waiting.join(WAIT)
    assert ended == ["returned"]  # an abandoned connection waits for nothing, and tells nothing
    assert recorder.lost == []


def test_a_broker_that_goes_away_is_a_loss_told_once(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "short-lived") as short_lived:
        connection, recorder = subscribed(short_lived.url(TOPIC), "scheduler-control-test-node-6")
    for _ in range(100):  # bounded: the broker's end is already closed
        if recorder.gone.is_set():
            break
        connection.loop(0.2)
    connection.loop(0.0)
    assert len(recorder.lost) == 1
    assert isinstance(recorder.lost[0], ConnectionError)
    assert "127.0.0.1" in str(recorder.lost[0])  # the log names the broker that went away
