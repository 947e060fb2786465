"""The doubles the watcher's tests share: a scripted API client, a random generator that answers the middle,
the loop driven on an injected clock, and a scripted push broker and its connections. No network, no sleeping."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable

import pytest

from scheduler_client import PauseWatcher, SchedulerState
from scheduler_client.push import PushEvents, PushUrl
from tests.clocks import Clock

UNCHANGED = None  # what get_if_changed answers for a 304
URL = "mqtt://127.0.0.1:1883/scheduler-control/prod/pause"
INCARNATION = "mk3x0a9z7q2c"


def message(version: int, is_paused: bool, incarnation: str = INCARNATION) -> bytes:
    etag = f'"{version}.{"p" if is_paused else "r"}.{incarnation}"'
    return json.dumps({"is_paused": is_paused, "etag": etag, "version": version, "updated_at": None}).encode()


class ScriptedClient:
    """Answers get_if_changed from a script (states, UNCHANGED, or exceptions to raise); records the ETags."""

    def __init__(self, *script: SchedulerState | Exception | None) -> None:
        self.script = list(script)
        self.etags: list[str | None] = []
        self.polled = threading.Event()

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        assert retry is False  # the watcher backs off itself; the client must not retry inside a poll
        self.etags.append(etag)
        self.polled.set()
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class MidRandom(random.Random):
    """uniform(a, b) at the middle, unless told otherwise: the waits become exact."""

    def __init__(self, at: float = 0.5) -> None:
        super().__init__()
        self.at = at

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.at


def run_until(watcher: PauseWatcher, clock: Clock, done: Callable[[], bool], steps: int = 200) -> None:
    """The watcher's loop on the injected clock: each step, then time moves exactly as far as the step asked."""
    for _ in range(steps):
        wait = watcher.run_pending()
        if done():
            return
        clock.now += wait
    pytest.fail(f"not done within {steps} steps")


class FakeConnection:
    """One connection attempt: ``open`` fails when the broker is down; the test plays the broker's part."""

    def __init__(self, broker: FakeBroker, url: PushUrl, client_id: str, events: PushEvents) -> None:
        self.broker, self.url, self.client_id, self.events = broker, url, client_id, events
        self.closed = False

    def open(self) -> None:
        self.broker.attempts.append((self.broker.clock.now, self.client_id))
        if self.broker.refuse is not None:
            raise self.broker.refuse
        self.broker.connections.append(self)
        if self.broker.accepts:
            self.events.subscribed()
            if self.broker.retained is not None:
                self.events.message(self.broker.retained)

    def loop(self, timeout: float) -> None:  # the background thread's; these tests drive run_pending()
        raise AssertionError("not in these tests")

    def close(self) -> None:
        self.closed = True

    def abandon(self) -> None:
        self.closed = True


class FakeBroker:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.retained: bytes | None = None
        self.refuse: Exception | None = None
        self.accepts = True
        self.attempts: list[tuple[float, str]] = []
        self.connections: list[FakeConnection] = []

    def connect(self, url: PushUrl, client_id: str, events: PushEvents) -> FakeConnection:
        return FakeConnection(self, url, client_id, events)

    @property
    def live(self) -> FakeConnection:
        connection = self.connections[-1]
        assert not connection.closed
        return connection

    def publish(self, payload: bytes) -> None:
        self.retained = payload
        for connection in self.connections:
            if not connection.closed:
                connection.events.message(payload)

    def go_down(self) -> None:
        self.refuse = ConnectionRefusedError("connection refused")
        for connection in self.connections:
            if not connection.closed:
                connection.closed = True
                connection.events.lost(ConnectionError("connection lost"))
