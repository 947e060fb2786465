"""A watcher survives fork(): a worker of a pre-fork server (gunicorn --preload, Celery prefork) gets a working
watcher of its own, through postfork() or, with a warning, by itself. Each test forks a real child, which reports
back through a pipe and exits."""

from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, cast

import pytest

import scheduler_client.watcher
from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState, WatcherStatus
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
        driven_by_the_caller = watcher._thread is None  # as the parent's was: started with background=False
        watcher.run_pending()  # the child's own connect
        watcher.stop()
        ids = [client_id for _, client_id in broker.attempts]
        return {"abandoned": abandoned, "ids": ids, "driven_by_the_caller": driven_by_the_caller}

    answer = in_child(child)
    watcher.stop()

    assert answer["abandoned"] is True  # dropped in the child without a DISCONNECT (FakeConnection.abandon)
    assert answer["driven_by_the_caller"] is True
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


def test_before_postfork_the_childs_watcher_is_stopped_and_can_be_stopped_again() -> None:
    """The parent's thread is not in the child: until the watcher restarts, it says stopped, its lock is free
    (the parent's thread may have held it at the fork) and stop() has no thread to wait for."""
    watcher, _ = polling_watcher()
    watcher.start(wait=30)

    def child() -> dict[str, Any]:
        status = watcher.status.value  # no postfork() and no use that restarts it
        watcher.stop(timeout=1)
        return {"status": status, "after_stop": watcher.status.value}

    try:
        answer = in_child(child)
    finally:
        watcher.stop()
    assert answer == {"status": "stopped", "after_stop": "stopped"}


def test_the_warning_names_the_fix_and_points_at_the_line_that_used_the_watcher() -> None:
    watcher, _ = polling_watcher()
    watcher.start(wait=30)

    def child() -> dict[str, Any]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = sys._getframe().f_lineno + 1
            watcher.is_paused()
        (warning,) = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        return {"text": str(warning.message), "at": [warning.filename, warning.lineno], "line": line}

    try:
        answer = in_child(child)
    finally:
        watcher.stop()
    if "/mutants/" not in scheduler_client.watcher.__file__:  # mutmut's trampolines add frames before the warning
        assert answer["at"] == [__file__, answer["line"]]
    assert answer["text"].startswith("A PauseWatcher was used in a forked process without postfork(): restarting")
    assert answer["text"].endswith(
        "Call watcher.postfork() in the child (gunicorn post_fork, Celery worker_process_init)."
    )


def test_status_listeners_hear_the_child_start_from_stopped() -> None:
    watcher, _ = polling_watcher()
    heard: list[tuple[str, str]] = []
    told = threading.Event()

    def listener(old: WatcherStatus, new: WatcherStatus) -> None:
        heard.append((old.value, new.value))
        told.set()

    watcher.add_status_listener(listener)
    watcher.start(wait=30)

    def child() -> dict[str, Any]:
        heard.clear()
        told.clear()
        watcher.postfork()
        told.wait(30)  # the child's thread tells its first status
        watcher.stop()
        return {"heard": heard[0] if heard else None}

    try:
        answer = in_child(child)
    finally:
        watcher.stop()
    assert answer["heard"] is not None
    assert answer["heard"][0] == "stopped"


def test_postfork_on_a_watcher_never_started_leaves_it_stopped() -> None:
    watcher, client = polling_watcher()

    watcher.postfork()

    assert (watcher.status.value, watcher._thread, client.etags) == ("stopped", None, [])
