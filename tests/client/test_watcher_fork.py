"""A watcher survives fork(): a worker of a pre-fork server (gunicorn --preload, Celery prefork) gets a working
watcher of its own, through postfork() or, with a warning, by itself. Each test forks a real child, which reports
back through a pipe and exits."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from typing import Any, cast

import pytest

from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState
from tests.client.fakes import URL, FakeBroker, ScriptedClient, message
from tests.clocks import Clock

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork")


def in_child(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body`` in a forked child; its JSON answer (or its error) comes back through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_end)
        try:
            answer = body()
        except BaseException as error:
            answer = {"error": repr(error)}
        os.write(write_end, json.dumps(answer).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        received = pipe.read()
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(received)
    return result


def polling_watcher() -> tuple[PauseWatcher, ScriptedClient]:
    client = ScriptedClient(SchedulerState(False, '"3.r.mk3x0a9z7q2c"', None))
    watcher = PauseWatcher(cast(SchedulerClient, client), interval=0.01)
    return watcher, client


def test_postfork_gives_the_child_a_thread_of_its_own_and_keeps_the_value() -> None:
    watcher, client = polling_watcher()
    watcher.start(wait=30)
    parent_thread = watcher._thread

    def child() -> dict[str, Any]:
        watcher.postfork()
        client.polled.clear()
        polled_again = client.polled.wait(30)
        return {
            "paused": watcher.is_paused(),
            "status": watcher.status.value,
            "new_thread": watcher._thread is not None and watcher._thread is not parent_thread,
            "alive": watcher._thread is not None and watcher._thread.is_alive(),
            "polled": polled_again,
        }

    try:
        answer = in_child(child)
    finally:
        watcher.stop()
    assert answer == {"paused": False, "status": "polling", "new_thread": True, "alive": True, "polled": True}


def test_a_forked_watcher_used_without_postfork_warns_and_restarts_itself() -> None:
    watcher, _ = polling_watcher()
    watcher.start(wait=30)

    def child() -> dict[str, Any]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            paused = watcher.is_paused()
            watcher.is_paused()  # warned once, not at every call
        thread = watcher._thread
        return {
            "paused": paused,
            "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
            "alive": thread is not None and thread.is_alive(),
        }

    try:
        answer = in_child(child)
    finally:
        watcher.stop()
    assert answer["paused"] is False
    assert answer["alive"] is True
    (warning,) = answer["warnings"]
    assert "postfork()" in warning


def test_the_child_never_speaks_on_the_parents_push_connection_and_connects_with_its_own_id() -> None:
    clock = Clock()
    broker = FakeBroker(clock)
    broker.retained = message(7, False)
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(None)), URL, clock=clock, connect=broker.connect).start(
        background=False
    )
    watcher.run_pending()
    parent_connection = broker.live

    def child() -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            watcher.is_paused()  # its first use in the child: the parent's connection dropped, a new start
        abandoned = parent_connection.closed
        watcher.run_pending()  # the child's own connect
        watcher.stop()
        return {"abandoned": abandoned, "ids": [client_id for _, client_id in broker.attempts]}

    answer = in_child(child)
    watcher.stop()

    assert answer["abandoned"] is True  # dropped in the child without a DISCONNECT (FakeConnection.abandon)
    parent_id, *child_ids = answer["ids"]
    assert child_ids
    assert all(child_id != parent_id for child_id in child_ids)


def test_postfork_outside_a_forked_child_does_nothing() -> None:
    watcher, _ = polling_watcher()
    watcher.start(wait=30)
    thread = watcher._thread
    watcher.postfork()
    assert watcher._thread is thread
    watcher.stop()
