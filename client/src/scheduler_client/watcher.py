"""``PauseWatcher``: a node's view of the switch, pushed first, polled as the fallback, answered from memory.

One background thread per watcher does everything: the push connection's I/O (``push.PushConnection``), the
polls, the timers. ``is_paused()`` never touches the network. docs/fleet.md tells the whole story; in short:

- **Push first.** With ``push=`` (the stack's ``PushUrl``), the watcher subscribes to the switch's topic; the
  retained message is its first value and every change arrives as it commits. While subscribed it makes no HTTP
  request.
- **Polling as the fallback.** When push cannot connect, is refused, or drops, the watcher polls the API with
  If-None-Match every ``interval`` (± ``jitter``) until push is back, then stops. Without ``push`` it only polls.
- **Reconnects** back off exponentially with full jitter, from about a second up to ``reconnect_cap`` (a minute).
  After a drop the whole fleet reconnects at once, so there the backoff starts from ``fleet_size /
  CONNECTS_PER_SECOND`` seconds instead of one: the fleet stays within IoT Core's connect rate however long the
  broker stays down. A refused connection is logged as an error and retried slowly.
- **Fail static, by default.** A value, once known, is kept however old: ``age()`` and ``source`` say how old
  and where from. Before the first value the answer is paused. ``fail_closed=True`` answers paused once the value
  has not been confirmed for ``max_staleness`` seconds, and then schedules polls so it tries again in time.
- **Only newer values count** (the contract's ordering, docs/protocol.md): a duplicate or a late older message
  changes nothing.
- ``on_change(old, new)`` is called, from the watcher's thread, exactly once for every change of what
  ``is_paused()`` answers (the first value and fail-closed transitions included); status listeners
  (``add_status_listener``) likewise for every change of ``status``.
- Safe after ``fork()``: call ``postfork()`` in the child (gunicorn's ``post_fork``, Celery's
  ``worker_process_init``); a forked watcher used without it warns and restarts itself.

The decisions (what to apply, when to poll or reconnect, the status and the age) are ``watcher_core.WatcherCore``,
plain computation on the clock's readings; this module is the thin layer that drives it: one thread, the push
connection, HTTP, the callbacks. ``clock`` (monotonic seconds), ``rng`` and ``connect`` (the push connection's
factory) are for tests; ``run_pending()`` runs the loop's due work once in the caller's thread, ``poll()`` one poll.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from scheduler_client.client import SchedulerClient
from scheduler_client.push import (
    PushConnection,
    PushEvents,
    PushRefused,
    PushUrl,
    message_state,
    new_client_id,
    parse_push_url,
)
from scheduler_client.state import SchedulerState
from scheduler_client.watcher_core import (
    CONNECTS_PER_SECOND,
    LONGEST_WAIT,
    Options,
    PushDiverged,
    Source,
    WatcherCore,
    WatcherStatus,
)

__all__ = [
    "CONNECTS_PER_SECOND",
    "OnChange",
    "OnState",
    "OnStatus",
    "PauseWatcher",
    "PushDiverged",
    "Source",
    "Watcher",
    "WatcherStatus",
]

logger = logging.getLogger("scheduler_client.watcher")

OnChange = Callable[[bool, bool], None]
OnStatus = Callable[[WatcherStatus, WatcherStatus], None]
OnState = Callable[[SchedulerState | None, SchedulerState], None]
ConnectionFactory = Callable[[PushUrl, str, PushEvents], Any]


class Watcher(Protocol):
    """What a node uses of a watcher; ``PauseWatcher`` and ``testing.FakePauseWatcher`` both are one."""

    def is_paused(self) -> bool: ...

    def age(self) -> float | None: ...

    @property
    def source(self) -> Source | None: ...

    @property
    def status(self) -> WatcherStatus: ...

    def start(self, wait: float | None = None) -> Any: ...

    def stop(self, timeout: float | None = None) -> None: ...


_watchers: weakref.WeakSet[PauseWatcher] = weakref.WeakSet()


class PauseWatcher:
    def __init__(  # noqa: PLR0913 - keyword-only options, as the package documents them
        self,
        client: SchedulerClient,
        push: str | PushUrl | None = None,
        *,
        interval: float = 10.0,
        jitter: float = 0.1,
        fail_closed: bool = False,
        max_staleness: float = 60.0,
        on_change: OnChange | None = None,
        max_backoff: float | None = None,
        fleet_size: int = 1000,
        reconnect_cap: float = 60.0,
        push_timeout: float = 10.0,
        verify_interval: float = 3600.0,
        keepalive: int = 30,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        connect: ConnectionFactory | None = None,
    ) -> None:
        self.client = client
        self.push = parse_push_url(push) if isinstance(push, str) else push
        options = Options.checked(
            push=self.push is not None,
            topic=self.push.topic if self.push is not None else "",
            interval=interval,
            jitter=jitter,
            fail_closed=fail_closed,
            max_staleness=max_staleness,
            max_backoff=max_backoff,
            fleet_size=fleet_size,
            reconnect_cap=reconnect_cap,
            push_timeout=push_timeout,
            verify_interval=verify_interval,
        )
        self.on_change = on_change
        self.keepalive = keepalive
        self._clock = clock
        # Pseudo-random is right here: it spreads polls and reconnects, it guards no secret.
        self._core = WatcherCore(options, rng or random.Random())  # noqa: S311  # nosec B311
        self._connect = connect or self._default_connection
        self._listeners: list[OnStatus] = []
        self._state_listeners: list[OnState] = []
        self._reported_state: SchedulerState | None = None
        self._reset_runtime()
        self._reported_paused = True  # what is_paused() answers before the first value
        self._reported_status = WatcherStatus.STOPPED
        self._pid = os.getpid()
        _watchers.add(self)

    # The options, as given (checked, and the derived ones computed, by watcher_core.Options).
    @property
    def interval(self) -> float:
        return self._core.options.interval

    @property
    def jitter(self) -> float:
        return self._core.options.jitter

    @property
    def fail_closed(self) -> bool:
        return self._core.options.fail_closed

    @property
    def max_staleness(self) -> float:
        return self._core.options.max_staleness

    @property
    def max_backoff(self) -> float:
        return self._core.options.max_backoff

    @property
    def reconnect_spread(self) -> float:
        return self._core.options.reconnect_spread

    @property
    def reconnect_cap(self) -> float:
        return self._core.options.reconnect_cap

    @property
    def push_timeout(self) -> float:
        return self._core.options.push_timeout

    @property
    def verify_interval(self) -> float:
        return self._core.options.verify_interval

    def _reset_runtime(self) -> None:
        """Everything one run of the loop owns (a new lock too: after fork() the old one may be held forever)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ready = threading.Event()
        if self._core.state is not None:
            self._ready.set()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._running = False
        self._connection: Any = None
        self._client_id = new_client_id(self.push) if self.push is not None else ""
        self._needs_restart = False
        self._core.reset_runtime()

    # --- what a node asks, never touching the network -------------------------------------------------
    def is_paused(self) -> bool:
        """The switch as this node should obey it now: the last value known (paused before the first one; with
        ``fail_closed``, also once it has not been confirmed for ``max_staleness`` seconds)."""
        self._check_fork()
        with self._lock:
            return self._core.answer(self._clock())

    def age(self) -> float | None:
        """Seconds since the value was last confirmed: 0 while subscribed by push (it is live); since the last
        good poll, or since push dropped, otherwise. None before the first value."""
        with self._lock:
            return self._core.age(self._clock())

    @property
    def source(self) -> Source | None:
        """Where the value came from: "push" or "poll"; None before the first."""
        with self._lock:
            return self._core.source

    @property
    def state(self) -> SchedulerState | None:
        """The last value known (its ETag and Last-Modified with it), however old."""
        with self._lock:
            return self._core.state

    @property
    def status(self) -> WatcherStatus:
        with self._lock:
            return self._core.status(self._clock(), self._running)

    @property
    def last_error(self) -> Exception | None:
        """The latest failure (a poll, or the push connection); None once it succeeds again."""
        with self._lock:
            return self._core.last_error

    @property
    def ready(self) -> bool:
        """True once a first value is known."""
        with self._lock:
            return self._core.state is not None

    def add_status_listener(self, listener: OnStatus) -> None:
        """``listener(old, new)`` is called from the watcher's thread for every change of ``status``."""
        self._listeners.append(listener)

    def remove_status_listener(self, listener: OnStatus) -> None:
        self._listeners.remove(listener)

    def add_state_listener(self, listener: OnState) -> None:
        """``listener(old, new)`` is called from the watcher's thread for every new state known (a new ETag, so
        also a new version or incarnation with the same value, which ``on_change`` does not see)."""
        self._state_listeners.append(listener)

    def remove_state_listener(self, listener: OnState) -> None:
        self._state_listeners.remove(listener)

    @property
    def last_divergence(self) -> tuple[float, PushDiverged] | None:
        """The latest time push and the API disagreed: seconds ago, and what each said; kept once resolved."""
        with self._lock:
            found = self._core.last_divergence
            return None if found is None else (max(0.0, self._clock() - found[0]), found[1])

    # --- its life ---------------------------------------------------------------------------------------
    def start(self, wait: float | None = None, *, background: bool = True) -> PauseWatcher:
        """Start the background thread; with ``wait``, return once the first value is known or ``wait``
        seconds have passed (``ready`` tells which). Starting a started watcher is an error.
        ``background=False`` starts no thread: the caller drives it with ``run_pending()`` (tests)."""
        with self._lock:
            if self._running:
                raise RuntimeError("this watcher is already started")
            old = self._thread
        if old is not None:  # stop() timed out on it: it ends at its next wake and may not overlap the new one
            old.join()
        with self._lock:
            self._generation += 1
            self._running = True
            self._background = background
            self._wake.clear()
            self._needs_restart = False
            self._core.begin(self._clock())
            generation = self._generation
            if not background:
                self._thread = None
            else:
                self._thread = threading.Thread(
                    target=self._run, args=(generation,), name="scheduler-pause-watcher", daemon=True
                )
                self._thread.start()
        if not background:
            self._report()
        if wait is not None and wait > 0:
            self.wait_ready(wait)
        return self

    def wait_ready(self, timeout: float) -> bool:
        """Wait until a first value is known, at most ``timeout`` seconds; True if it is."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop: close the push connection and end the thread, waiting for it at most ``timeout`` seconds (a
        poll in flight ends within the client's timeout; its answer is then dropped)."""
        with self._lock:
            self._running = False
            self._generation += 1
            connection, self._connection = self._connection, None
            thread = self._thread
        self._wake.set()
        if connection is not None:
            connection.close()
        with self._lock:
            self._core.stopped()
        if thread is None:
            self._report()  # driven by run_pending(): told here; a thread tells it as it ends
            return
        thread.join(timeout)
        if not thread.is_alive():
            with self._lock:
                if self._thread is thread:
                    self._thread = None

    def postfork(self) -> None:
        """In a forked child: drop the parent's connection and thread (never used from here), keep the value
        known, and start afresh with a client id of its own if the parent's watcher was running. Outside a
        forked child it does nothing."""
        if os.getpid() == self._pid and not self._needs_restart:
            return
        was_running = self._running or self._needs_restart
        connection = self._connection
        self._reset_runtime()
        self._pid = os.getpid()
        if connection is not None:
            connection.abandon()
        self._reported_status = WatcherStatus.STOPPED
        if was_running:
            self.start(background=getattr(self, "_background", True))

    def __enter__(self) -> PauseWatcher:
        """Starts it, unless ``start(wait=...)`` already did: ``with PauseWatcher(...).start(wait=5) as w``."""
        with self._lock:
            running = self._running
        return self if running else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- the loop -----------------------------------------------------------------------------------------
    def first_delay(self) -> float:
        """When the first poll comes, without push: within the first second (at most the interval), spread."""
        with self._lock:
            return self._core.first_delay()

    def run_pending(self) -> float:
        """Do what is due now (connect, poll, notice staleness) in the caller's thread; returns the seconds until
        something is due next. The thread runs this in a loop; tests call it with an injected clock."""
        with self._lock:
            push = self._core.push_due(self._clock())
        if push.give_up:
            with self._lock:
                error = self._core.give_up_error()
            self._push_failed(error)
        if push.connect:
            self._open_push()
        with self._lock:
            poll_due = self._core.poll_due(self._clock())
        if poll_due:
            self.poll()
        self._report()
        with self._lock:
            return self._core.next_wake(self._clock())

    def poll(self) -> float:
        """One poll of the API; returns the seconds to wait before the next."""
        with self._lock:
            known, generation = self._core.poll_started(self._clock()), self._generation
        try:
            fresh = self.client.get_if_changed(known, retry=False)
        except Exception as error:  # a poll must never end the watcher: the error is kept and logged
            with self._lock:
                delay = self._core.poll_failed(error)
        else:
            with self._lock:
                if generation != self._generation:
                    return 0.0  # stopped (or restarted) meanwhile: this answer belongs to no one
                delay = self._core.poll_answered(self._clock(), fresh)
        with self._lock:
            delay = self._core.schedule_poll(self._clock(), delay, float(getattr(self.client, "timeout", 0.0)))
            divergence = self._core.take_divergence()
        if divergence is not None:  # push gave another state than the API: drop it, poll, reconnect later
            self._push_failed(divergence)
        self._report()
        return delay

    def _run(self, generation: int) -> None:
        try:
            self._loop(generation)
        finally:
            self._report()  # "stopped" is told from this thread too

    def _loop(self, generation: int) -> None:
        while True:
            with self._lock:
                if generation != self._generation:
                    return
            wait = self.run_pending()
            with self._lock:
                if generation != self._generation:
                    return
                connection = self._connection
            if connection is not None:
                try:
                    connection.loop(min(wait, LONGEST_WAIT))
                except Exception as error:  # a broken connection must not end the watcher
                    self._push_lost(ConnectionError(f"the push connection failed: {error}"))
            elif self._wake.wait(wait):
                self._wake.clear()

    # --- push -----------------------------------------------------------------------------------------------
    def _default_connection(self, url: PushUrl, client_id: str, events: PushEvents) -> PushConnection:
        credentials = region = None
        if url.scheme == "wss":
            session = self.client.session
            region = url.region or session.get_config_variable("region")

            def credentials() -> Any:
                found = session.get_credentials()
                if found is None:
                    raise PushRefused("No AWS credentials found to sign the push connection.")
                return found.get_frozen_credentials()

        return PushConnection(
            url,
            client_id,
            events,
            credentials=credentials,
            region=region,
            connect_timeout=self.push_timeout / 2,
            keepalive=self.keepalive,
        )

    def _open_push(self) -> None:
        if self.push is None:
            return
        with self._lock:
            generation = self._generation
            self._core.connecting(self._clock())
        events = PushEvents(
            subscribed=lambda: self._push_subscribed(generation),
            message=lambda payload: self._push_message(generation, payload),
            lost=lambda error: self._push_lost(error, generation),
        )
        try:
            connection = self._connect(self.push, self._client_id, events)
            connection.open()
        except Exception as error:  # unreachable, refused, a bad URL for this client: polling carries on
            self._push_failed(error)
            return
        with self._lock:
            if generation != self._generation:
                connection.close()
                return
            self._connection = connection
            self._core.opened(self._clock())

    def _push_subscribed(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or not self._core.push_subscribed(self._clock()):
                return
        self._report()

    def _push_message(self, generation: int, payload: bytes) -> None:
        fresh = message_state(payload)
        with self._lock:
            if generation != self._generation:
                return
            self._core.push_message(self._clock(), fresh, payload)
        self._report()

    def _push_lost(self, error: Exception, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            connection, self._connection = self._connection, None
            self._core.push_lost(self._clock(), error)
        if connection is not None:
            connection.close()
        self._report()

    def _push_failed(self, error: Exception) -> None:
        """Push is unavailable: the core plans the next connect and polls meanwhile; the connection is closed."""
        with self._lock:
            connection, self._connection = self._connection, None
            self._core.push_failed(self._clock(), error)
        if connection is not None:
            connection.close()
        self._report()

    # --- telling listeners ---------------------------------------------------------------------------------
    def _report(self) -> None:
        """Tell on_change and the status listeners what changed since they were last told, exactly once."""
        with self._lock:
            now = self._clock()
            paused, status = self._core.answer(now), self._core.status(now, self._running)
            old_paused, self._reported_paused = self._reported_paused, paused
            old_status, self._reported_status = self._reported_status, status
            state, old_state = self._core.state, self._reported_state
            self._reported_state = state
            if self._core.state is not None:
                self._ready.set()
        if state is not None and (
            old_state is None or (state.etag, state.is_paused) != (old_state.etag, old_state.is_paused)
        ):
            for state_listener in list(self._state_listeners):
                _call(state_listener, old_state, state)
        if status != old_status:
            for listener in list(self._listeners):
                _call(listener, old_status, status)
        if paused != old_paused and self.on_change is not None:
            _call(self.on_change, old_paused, paused)

    def _check_fork(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        if self._needs_restart:
            warnings.warn(
                "A PauseWatcher was used in a forked process without postfork(): restarting it here. Call "
                "watcher.postfork() in the child (gunicorn post_fork, Celery worker_process_init).",
                RuntimeWarning,
                stacklevel=3,
            )
            logger.warning("PauseWatcher used after fork() without postfork(): restarting it in pid %d", os.getpid())
            self.postfork()


def _call(callback: Callable[[Any, Any], None], old: Any, new: Any) -> None:
    try:
        callback(old, new)
    except Exception:  # a node's callback must not stop the watcher
        logger.exception("A watcher callback raised")


def _after_fork_in_child() -> None:
    """The child has no watcher threads and must not use the parent's connections: mark each started watcher
    so postfork() (or its first use, with a warning) restarts it."""
    for watcher in list(_watchers):
        was_running = watcher._running
        watcher._lock = threading.Lock()  # the parent's thread may have held it at the fork
        watcher._running = False
        watcher._thread = None
        watcher._needs_restart = was_running


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
