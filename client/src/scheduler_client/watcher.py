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
- **Only newer values count** (``state.supersedes``): a duplicate or a late older message changes nothing.
- ``on_change(old, new)`` is called, from the watcher's thread, exactly once for every change of what
  ``is_paused()`` answers (the first value and fail-closed transitions included); status listeners
  (``add_status_listener``) likewise for every change of ``status``.
- Safe after ``fork()``: call ``postfork()`` in the child (gunicorn's ``post_fork``, Celery's
  ``worker_process_init``); a forked watcher used without it warns and restarts itself.

``clock`` (monotonic seconds), ``rng`` and ``connect`` (the push connection's factory) are for tests;
``run_pending()`` runs the loop's due work once in the caller's thread, ``poll()`` one poll.
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
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Protocol

from scheduler_client.client import SchedulerClient
from scheduler_client.errors import Forbidden, SchedulerError, Throttled
from scheduler_client.push import (
    PushConnection,
    PushEvents,
    PushRefused,
    PushUrl,
    message_state,
    new_client_id,
    parse_push_url,
)
from scheduler_client.state import SchedulerState, supersedes

logger = logging.getLogger("scheduler_client.watcher")

OnChange = Callable[[bool, bool], None]
Source = Literal["push", "poll"]
# What a fleet's first reconnects after a drop average per second: 40% of AWS IoT Core's default connect rate per
# account (500/s). While the broker is still down, those that failed retry as others make their first attempt;
# with the spread as the base of their backoff too, all of them together peak at about 1.5 times this, and a
# fleet of random clocks adds its own bunching (tests/client/test_push_fleet_reconnect.py counts them).
CONNECTS_PER_SECOND = 200.0
RECONNECT_FIRST = 1.0
REFUSED_MIN = 60.0  # a refused node retries after one to two minutes
LONGEST_WAIT = 5.0  # the loop wakes at least this often while connected: MQTT keep-alives are timely


class WatcherStatus(StrEnum):
    SUBSCRIBED = "subscribed"  # push is up: the value is live
    POLLING = "polling"  # push is down or off, and the API answered within max_staleness
    STALE = "stale"  # no value yet, or neither push nor the API has confirmed it within max_staleness
    STOPPED = "stopped"


OnStatus = Callable[[WatcherStatus, WatcherStatus], None]
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
        keepalive: int = 30,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        connect: ConnectionFactory | None = None,
    ) -> None:
        if interval <= 0 or max_staleness <= 0:
            raise ValueError("interval and max_staleness must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the interval, from 0 up to (not including) 1")
        if fleet_size < 1 or reconnect_cap < RECONNECT_FIRST or push_timeout <= 0:
            raise ValueError("fleet_size must be at least 1, reconnect_cap at least 1 s, push_timeout positive")
        self.client = client
        self.push = parse_push_url(push) if isinstance(push, str) else push
        self.interval = interval
        self.jitter = jitter
        self.fail_closed = fail_closed
        self.max_staleness = max_staleness
        self.on_change = on_change
        self.max_backoff = max(interval, max_backoff if max_backoff is not None else 60.0)
        self.reconnect_spread = max(RECONNECT_FIRST, fleet_size / CONNECTS_PER_SECOND)
        self.reconnect_cap = max(reconnect_cap, self.reconnect_spread)
        self.push_timeout = push_timeout
        self.keepalive = keepalive
        self._clock = clock
        # Pseudo-random is right here: it spreads polls and reconnects, it guards no secret.
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311
        self._connect = connect or self._default_connection
        self._listeners: list[OnStatus] = []
        self._reset_runtime()
        self._state: SchedulerState | None = None
        self._source: Source | None = None
        self._confirmed_at: float | None = None
        self._last_error: Exception | None = None
        self._reported_paused = True  # what is_paused() answers before the first value
        self._reported_status = WatcherStatus.STOPPED
        self._pid = os.getpid()
        _watchers.add(self)

    def _reset_runtime(self) -> None:
        """Everything one run of the loop owns (a new lock too: after fork() the old one may be held forever)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ready = threading.Event()
        if getattr(self, "_state", None) is not None:
            self._ready.set()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._running = False
        self._connection: Any = None
        self._subscribed = False
        self._client_id = new_client_id(self.push) if self.push is not None else ""
        self._next_connect_at: float | None = None
        self._last_connect_at: float | None = None
        self._connect_deadline: float | None = None
        self._connect_failures = 0
        self._backoff_base = RECONNECT_FIRST  # the spread after a drop, until subscribed again
        self._polling = False
        self._next_poll_at: float | None = None
        self._poll_failures = 0
        self._bootstrap_poll_at: float | None = None
        self._needs_restart = False

    # --- what a node asks, never touching the network -------------------------------------------------
    def is_paused(self) -> bool:
        """The switch as this node should obey it now: the last value known (paused before the first one; with
        ``fail_closed``, also once it has not been confirmed for ``max_staleness`` seconds)."""
        self._check_fork()
        with self._lock:
            return self._answer_now()

    def age(self) -> float | None:
        """Seconds since the value was last confirmed: 0 while subscribed by push (it is live); since the last
        good poll, or since push dropped, otherwise. None before the first value."""
        with self._lock:
            return self._age()

    @property
    def source(self) -> Source | None:
        """Where the value came from: "push" or "poll"; None before the first."""
        with self._lock:
            return self._source

    @property
    def state(self) -> SchedulerState | None:
        """The last value known (its ETag and Last-Modified with it), however old."""
        with self._lock:
            return self._state

    @property
    def status(self) -> WatcherStatus:
        with self._lock:
            return self._status_now()

    @property
    def last_error(self) -> Exception | None:
        """The latest failure (a poll, or the push connection); None once it succeeds again."""
        with self._lock:
            return self._last_error

    @property
    def ready(self) -> bool:
        """True once a first value is known."""
        with self._lock:
            return self._state is not None

    def add_status_listener(self, listener: OnStatus) -> None:
        """``listener(old, new)`` is called from the watcher's thread for every change of ``status``."""
        self._listeners.append(listener)

    def remove_status_listener(self, listener: OnStatus) -> None:
        self._listeners.remove(listener)

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
            self._begin(self._clock())
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
            self._subscribed = False
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
        return self._rng.uniform(0.0, min(1.0, self.interval))

    def run_pending(self) -> float:
        """Do what is due now (connect, poll, notice staleness) in the caller's thread; returns the seconds until
        something is due next. The thread runs this in a loop; tests call it with an injected clock."""
        now = self._clock()
        with self._lock:
            connect_due = self.push is not None and self._connection is None and self._due(self._next_connect_at, now)
            gave_up = self._connection is not None and not self._subscribed and self._due(self._connect_deadline, now)
        if gave_up:
            self._push_failed(TimeoutError(f"no subscription within {self.push_timeout:g} s"), self._clock())
        if connect_due:
            self._open_push()
        now = self._clock()
        with self._lock:
            poll_due = (self._polling and self._due(self._next_poll_at, now)) or self._due(self._bootstrap_poll_at, now)
        if poll_due:
            self.poll()
        self._report()
        return self._next_wake(self._clock())

    def poll(self) -> float:
        """One poll of the API; returns the seconds to wait before the next."""
        with self._lock:
            known, generation = self._state, self._generation
            self._bootstrap_poll_at = None
        try:
            fresh = self.client.get_if_changed(known.etag if known is not None else None, retry=False)
        except Exception as error:  # a poll must never end the watcher: the error is kept and logged
            delay = self._poll_failed(error)
        else:
            with self._lock:
                if generation != self._generation:
                    return 0.0  # stopped (or restarted) meanwhile: this answer belongs to no one
                self._poll_failures = 0
                self._last_error = None
                if not self._subscribed:
                    self._confirmed_at = self._clock()
                if fresh is not None and (self._state is None or supersedes(fresh.etag, self._state.etag)):
                    self._state, self._source = fresh, "poll"
            delay = self.interval * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        with self._lock:
            delay = self._before_stale(delay)
            self._next_poll_at = self._clock() + delay
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

    def _begin(self, now: float) -> None:
        """A run's first plan: push right away (when configured), else a first poll soon."""
        self._needs_restart = False
        if self.push is not None:
            self._next_connect_at = now
            self._polling = False
        else:
            self._start_polling(now, self.first_delay())

    def _next_wake(self, now: float) -> float:
        with self._lock:
            moments = [self._next_poll_at if self._polling else None, self._bootstrap_poll_at]
            if self.push is not None:
                moments.append(self._next_connect_at if self._connection is None else None)
                moments.append(self._connect_deadline if not self._subscribed else None)
            if self.fail_closed and self._confirmed_at is not None and not self._subscribed and not self._stale():
                moments.append(self._confirmed_at + self.max_staleness + 0.001)  # the moment it goes stale
        due = [moment - now for moment in moments if moment is not None]
        return max(0.0, min(due, default=LONGEST_WAIT * 12))

    @staticmethod
    def _due(moment: float | None, now: float) -> bool:
        return moment is not None and now >= moment

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
        events = PushEvents(
            subscribed=lambda: self._push_subscribed(generation),
            message=lambda payload: self._push_message(generation, payload),
            lost=lambda error: self._push_lost(error, generation),
        )
        with self._lock:
            self._last_connect_at = self._clock()
        try:
            connection = self._connect(self.push, self._client_id, events)
            connection.open()
        except Exception as error:  # unreachable, refused, a bad URL for this client: polling carries on
            self._push_failed(error, self._clock())
            return
        with self._lock:
            if generation != self._generation:
                connection.close()
                return
            self._connection = connection
            self._connect_deadline = self._clock() + self.push_timeout

    def _push_subscribed(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._subscribed:
                return
            self._mark_subscribed()
            if self._state is None:  # no retained message yet (a new stage): one poll gives the first value
                self._bootstrap_poll_at = self._clock() + min(2.0, self.interval)
        self._report()

    def _push_message(self, generation: int, payload: bytes) -> None:
        fresh = message_state(payload)
        with self._lock:
            if generation != self._generation:
                return
            if fresh is None:
                logger.warning("Ignored a push message that is not the scheduler's: %r", payload[:200])
                return
            if not self._subscribed:  # a message on the topic: subscribed, whether or not its SUBACK came first
                self._mark_subscribed()
            self._bootstrap_poll_at = None
            self._confirmed_at = self._clock()
            if self._state is None or supersedes(fresh.etag, self._state.etag):
                self._state, self._source = fresh, "push"
        self._report()

    def _mark_subscribed(self) -> None:
        """Push is up: stop polling, forget the failures (called with the lock held)."""
        self._subscribed = True
        self._polling = False
        self._next_poll_at = None
        self._connect_failures = 0
        self._backoff_base = RECONNECT_FIRST
        self._connect_deadline = None
        self._last_error = None
        if self._state is not None:
            self._confirmed_at = self._clock()
        logger.info("Subscribed to the scheduler switch by push (%s)", self.push)

    def _push_lost(self, error: Exception, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            was_subscribed = self._subscribed
        if was_subscribed and not isinstance(error, PushRefused):
            with self._lock:
                self._connect_failures = 0
            logger.warning("Push connection lost (%s): polling until it is back", error)
        self._push_failed(error, self._clock(), after_drop=was_subscribed)

    def _push_failed(self, error: Exception, now: float, *, after_drop: bool = False) -> None:
        """Push is unavailable: plan the next connect, and poll meanwhile."""
        with self._lock:
            connection, self._connection = self._connection, None
            if self._subscribed:
                self._confirmed_at = now  # the value was live until now
            self._subscribed = False
            self._connect_deadline = None
            self._bootstrap_poll_at = None
            self._last_error = error
            self._connect_failures += 1
            delay = self._reconnect_delay(error, after_drop)
            # IoT Core takes at most one connect per second per client id.
            self._next_connect_at = max(now + delay, (self._last_connect_at or now) + 1.0)
            if not self._polling:
                # No value yet: ask the API soon. With one: anywhere in the interval, so a fleet that lost push
                # at once does not poll at once.
                self._start_polling(
                    now, self._rng.uniform(0.0, min(1.0, self.interval) if self._state is None else self.interval)
                )
        if connection is not None:
            connection.close()
        if isinstance(error, PushRefused):
            logger.error("The push broker refused this node; polling, and retrying push in %.0f s: %s", delay, error)
        elif not after_drop:
            logger.warning("Push unavailable (%s); polling, retrying push in %.1f s", error, delay)
        self._report()

    def _reconnect_delay(self, error: Exception, after_drop: bool) -> float:
        if isinstance(error, PushRefused):
            return self._rng.uniform(REFUSED_MIN, 2 * REFUSED_MIN)
        if after_drop:  # the whole fleet lost it at once: its attempts are spread, until one subscribes
            self._backoff_base = self.reconnect_spread
        ceiling = min(self.reconnect_cap, self._backoff_base * 2.0 ** (self._connect_failures - 1))
        return self._rng.uniform(0.0, ceiling)

    # --- polling -----------------------------------------------------------------------------------------
    def _start_polling(self, now: float, delay: float) -> None:
        self._polling = True
        self._next_poll_at = now + delay

    def _poll_failed(self, error: Exception) -> float:
        with self._lock:
            self._poll_failures += 1
            self._last_error = error
            failures = self._poll_failures
        if isinstance(error, Forbidden):
            logger.error("The scheduler refused this node's credentials; retrying slowly: %s", error)
            return self.max_backoff
        if not isinstance(error, SchedulerError):
            logger.exception("Unexpected error while polling the scheduler", exc_info=error)
        else:
            logger.warning("Polling the scheduler failed (%d in a row): %s", failures, error)
        backoff = min(self.max_backoff, self.interval * 2.0**failures)
        delay = backoff * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        retry_after = error.retry_after if isinstance(error, Throttled) else None
        return max(delay, retry_after or 0.0)

    def _before_stale(self, delay: float) -> float:
        """With fail_closed, the next poll comes early enough that its answer can arrive before the value goes
        stale (one client timeout before); never earlier than now, never later than the delay asked."""
        if not self.fail_closed or self._confirmed_at is None or self._state is None:
            return delay
        timeout = float(getattr(self.client, "timeout", 0.0))
        latest = self._confirmed_at + self.max_staleness - timeout - self._clock()
        return max(0.0, min(delay, latest)) if latest > 0 else delay

    # --- what it answers, and telling listeners ----------------------------------------------------------
    def _age(self) -> float | None:
        if self._confirmed_at is None and self._state is None:
            return None
        if self._subscribed and self._state is not None:
            return 0.0
        return self._clock() - self._confirmed_at if self._confirmed_at is not None else None

    def _stale(self) -> bool:
        age = self._age()
        return age is None or age > self.max_staleness

    def _answer_now(self) -> bool:
        if self._state is None:
            return True
        if self.fail_closed and self._stale():
            return True
        return self._state.is_paused

    def _status_now(self) -> WatcherStatus:
        if not self._running:
            return WatcherStatus.STOPPED
        if self._subscribed:
            return WatcherStatus.SUBSCRIBED
        return WatcherStatus.STALE if self._stale() else WatcherStatus.POLLING

    def _report(self) -> None:
        """Tell on_change and the status listeners what changed since they were last told, exactly once."""
        with self._lock:
            paused, status = self._answer_now(), self._status_now()
            old_paused, self._reported_paused = self._reported_paused, paused
            old_status, self._reported_status = self._reported_status, status
            if self._state is not None:
                self._ready.set()
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
