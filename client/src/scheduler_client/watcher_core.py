"""The watcher's decisions, without a thread, a socket or a clock of its own: what to apply, when to poll, when
to (re)connect, what the status and the age are. ``PauseWatcher`` (watcher.py) drives it: it owns the thread,
the push connection, the HTTP client and the callbacks, tells the core what happened and when (``now``, in
monotonic seconds), and does what the core says is due. Every method here is plain computation on its
arguments and its fields, so a test drives it with numbers alone (tests/client/test_watcher_core.py).

Every wait comes from one policy, ``scheduler_contract.backoff.Backoff``, with draws from the one random source
the watcher was given.
"""

from __future__ import annotations

import logging
import random
from enum import StrEnum
from typing import Literal, NamedTuple

from scheduler_client.errors import Forbidden, SchedulerError, Throttled
from scheduler_client.push import PushRefused
from scheduler_client.state import SchedulerState, supersedes
from scheduler_contract.backoff import Backoff

logger = logging.getLogger("scheduler_client.watcher")

Source = Literal["push", "poll"]
# What a fleet's first reconnects after a drop average per second: 40% of AWS IoT Core's default connect rate per
# account (500/s). While the broker is still down, those that failed retry as others make their first attempt;
# with the spread as the base of their backoff too, all of them together peak at about 1.5 times this, and a
# fleet of random clocks adds its own bunching (tests/client/test_push_fleet_reconnect.py counts them).
CONNECTS_PER_SECOND = 200.0
RECONNECT_FIRST = 1.0
REFUSED_MIN = 60.0  # a refused node retries after one to two minutes
LONGEST_WAIT = 5.0  # the loop wakes at least this often while connected: MQTT keep-alives are timely
CONNECTS_PER_CLIENT_ID = 1.0  # seconds between two connects of one client id: IoT Core takes no more


class WatcherStatus(StrEnum):
    SUBSCRIBED = "subscribed"  # push is up: the value is live
    POLLING = "polling"  # push is down or off, and the API answered within max_staleness
    STALE = "stale"  # no value yet, or neither push nor the API has confirmed it within max_staleness
    STOPPED = "stopped"


class Options(NamedTuple):
    """How a watcher behaves (PauseWatcher's keyword arguments, checked)."""

    push: bool
    interval: float = 10.0
    jitter: float = 0.1
    fail_closed: bool = False
    max_staleness: float = 60.0
    max_backoff: float = 60.0
    reconnect_spread: float = RECONNECT_FIRST
    reconnect_cap: float = 60.0
    push_timeout: float = 10.0

    @classmethod
    def checked(  # noqa: PLR0913 - keyword-only, as PauseWatcher documents them
        cls,
        *,
        push: bool,
        interval: float,
        jitter: float,
        fail_closed: bool,
        max_staleness: float,
        max_backoff: float | None,
        fleet_size: int,
        reconnect_cap: float,
        push_timeout: float,
    ) -> Options:
        if interval <= 0 or max_staleness <= 0:
            raise ValueError("interval and max_staleness must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the interval, from 0 up to (not including) 1")
        if fleet_size < 1 or reconnect_cap < RECONNECT_FIRST or push_timeout <= 0:
            raise ValueError("fleet_size must be at least 1, reconnect_cap at least 1 s, push_timeout positive")
        spread = max(RECONNECT_FIRST, fleet_size / CONNECTS_PER_SECOND)
        return cls(
            push=push,
            interval=interval,
            jitter=jitter,
            fail_closed=fail_closed,
            max_staleness=max_staleness,
            max_backoff=max(interval, max_backoff if max_backoff is not None else 60.0),
            reconnect_spread=spread,
            reconnect_cap=max(reconnect_cap, spread),
            push_timeout=push_timeout,
        )


class PushDue(NamedTuple):
    connect: bool  # no connection, and its next attempt is due
    give_up: bool  # a connection that has not subscribed within push_timeout


class WatcherCore:
    """One watcher's decisions. Not thread-safe: PauseWatcher calls it under its lock."""

    def __init__(self, options: Options, rng: random.Random) -> None:
        self.options = options
        self.rng = rng
        self.state: SchedulerState | None = None
        self.source: Source | None = None
        self.confirmed_at: float | None = None  # when the value was last confirmed (push or poll)
        self.last_error: Exception | None = None
        self.reset_runtime()

    def reset_runtime(self) -> None:
        """Forget one run's connection and timers (a start after fork()); the value and its age are kept."""
        self.connected = False  # a push connection is open (subscribed or not yet)
        self.subscribed = False
        self.next_connect_at: float | None = None
        self.last_connect_at: float | None = None
        self.connect_deadline: float | None = None
        self.connect_failures = 0
        self.backoff_base = RECONNECT_FIRST  # the spread after a drop, until subscribed again
        self.polling = False
        self.next_poll_at: float | None = None
        self.poll_failures = 0
        self.bootstrap_poll_at: float | None = None

    # --- the backoff policy, in one place ------------------------------------------------------------------
    def _draw(self, backoff: Backoff, attempt: int = 0) -> float:
        # uniform(0, 1) is random() itself; a test's rng that places uniform() within its range places this too.
        return backoff.delay(attempt, self.rng.uniform(0.0, 1.0))

    def first_delay(self) -> float:
        """When the first poll comes, without push: within the first second (at most the interval), spread."""
        return self._draw(Backoff(min(1.0, self.options.interval), min(1.0, self.options.interval)))

    def steady_poll_delay(self) -> float:
        """The next poll after a good answer: the interval, give or take the jitter."""
        return self._draw(Backoff(self.options.interval, self.options.interval, self.options.jitter))

    def failed_poll_delay(self) -> float:
        """After ``poll_failures`` failures in a row: doubling from twice the interval up to max_backoff, jittered."""
        backoff = Backoff(self.options.interval, self.options.max_backoff, self.options.jitter)
        return self._draw(backoff, self.poll_failures)

    def reconnect_delay(self, error: Exception, after_drop: bool) -> float:
        """Exponential from the backoff base (one second, or the fleet's spread after a drop), full jitter,
        capped; a refused connection waits one to two minutes."""
        if isinstance(error, PushRefused):
            return REFUSED_MIN + self._draw(Backoff(REFUSED_MIN, REFUSED_MIN))
        if after_drop:  # the whole fleet lost it at once: its attempts are spread, until one subscribes
            self.backoff_base = self.options.reconnect_spread
        return self._draw(Backoff(self.backoff_base, self.options.reconnect_cap), self.connect_failures - 1)

    # --- a run ---------------------------------------------------------------------------------------------
    def begin(self, now: float) -> None:
        """A run's first plan: push right away (when configured), else a first poll soon."""
        if self.options.push:
            self.next_connect_at = now
            self.polling = False
        else:
            self.start_polling(now, self.first_delay())

    def stopped(self) -> None:
        self.connected = False
        self.subscribed = False

    def push_due(self, now: float) -> PushDue:
        return PushDue(
            connect=self.options.push and not self.connected and _due(self.next_connect_at, now),
            give_up=self.connected and not self.subscribed and _due(self.connect_deadline, now),
        )

    def poll_due(self, now: float) -> bool:
        return (self.polling and _due(self.next_poll_at, now)) or _due(self.bootstrap_poll_at, now)

    def next_wake(self, now: float) -> float:
        """Seconds until something is due."""
        moments = [self.next_poll_at if self.polling else None, self.bootstrap_poll_at]
        if self.options.push:
            moments.append(self.next_connect_at if not self.connected else None)
            moments.append(self.connect_deadline if not self.subscribed else None)
        if self.options.fail_closed and self.confirmed_at is not None and not self.subscribed and not self.stale(now):
            moments.append(self.confirmed_at + self.options.max_staleness + 0.001)  # the moment it goes stale
        due = [moment - now for moment in moments if moment is not None]
        return max(0.0, min(due, default=LONGEST_WAIT * 12))

    # --- push ----------------------------------------------------------------------------------------------
    def connecting(self, now: float) -> None:
        self.last_connect_at = now

    def opened(self, now: float) -> None:
        """The connection is open: it must subscribe within push_timeout."""
        self.connected = True
        self.connect_deadline = now + self.options.push_timeout

    def push_subscribed(self, now: float) -> bool:
        """The SUBACK came; False when already subscribed (nothing changes)."""
        if self.subscribed:
            return False
        self._mark_subscribed(now)
        if self.state is None:  # no retained message yet (a new stage): one poll gives the first value
            self.bootstrap_poll_at = now + min(2.0, self.options.interval)
        return True

    def push_message(self, now: float, fresh: SchedulerState | None, payload: bytes) -> bool:
        """A message on the topic; True when its value is taken (it supersedes the one held)."""
        if fresh is None:
            logger.warning("Ignored a push message that is not the scheduler's: %r", payload[:200])
            return False
        if not self.subscribed:  # a message on the topic: subscribed, whether or not its SUBACK came first
            self._mark_subscribed(now)
        self.bootstrap_poll_at = None
        self.confirmed_at = now
        return self._take(fresh, "push")

    def push_lost(self, now: float, error: Exception) -> float:
        """The connection ended (or failed while open); returns the wait before the next connect."""
        was_subscribed = self.subscribed
        if was_subscribed and not isinstance(error, PushRefused):
            self.connect_failures = 0
            logger.warning("Push connection lost (%s): polling until it is back", error)
        return self.push_failed(now, error, after_drop=was_subscribed)

    def push_failed(self, now: float, error: Exception, *, after_drop: bool = False) -> float:
        """Push is unavailable: plan the next connect, and poll meanwhile. Returns the wait before the connect."""
        self.connected = False
        if self.subscribed:
            self.confirmed_at = now  # the value was live until now
        self.subscribed = False
        self.connect_deadline = None
        self.bootstrap_poll_at = None
        self.last_error = error
        self.connect_failures += 1
        delay = self.reconnect_delay(error, after_drop)
        last_connect = now if self.last_connect_at is None else self.last_connect_at
        self.next_connect_at = max(now + delay, last_connect + CONNECTS_PER_CLIENT_ID)
        if not self.polling:
            # No value yet: ask the API soon. With one: anywhere in the interval, so a fleet that lost push at
            # once does not poll at once.
            spread = min(1.0, self.options.interval) if self.state is None else self.options.interval
            self.start_polling(now, self._draw(Backoff(spread, spread)))
        if isinstance(error, PushRefused):
            logger.error("The push broker refused this node; polling, and retrying push in %.0f s: %s", delay, error)
        elif not after_drop:
            logger.warning("Push unavailable (%s); polling, retrying push in %.1f s", error, delay)
        return delay

    def _mark_subscribed(self, now: float) -> None:
        """Push is up: stop polling, forget the failures."""
        self.subscribed = True
        self.polling = False
        self.next_poll_at = None
        self.connect_failures = 0
        self.backoff_base = RECONNECT_FIRST
        self.connect_deadline = None
        self.last_error = None
        if self.state is not None:
            self.confirmed_at = now
        logger.info("Subscribed to the scheduler switch by push")

    # --- polling -------------------------------------------------------------------------------------------
    def start_polling(self, now: float, delay: float) -> None:
        self.polling = True
        self.next_poll_at = now + delay

    def poll_started(self) -> str | None:
        """A poll begins: the tag it sends in If-None-Match."""
        self.bootstrap_poll_at = None
        return self.state.etag if self.state is not None else None

    def poll_answered(self, now: float, fresh: SchedulerState | None) -> float:
        """The API answered (None: not modified); returns the wait before the next poll."""
        self.poll_failures = 0
        self.last_error = None
        if not self.subscribed:
            self.confirmed_at = now
        if fresh is not None:
            self._take(fresh, "poll")
        return self.steady_poll_delay()

    def poll_failed(self, error: Exception) -> float:
        """A poll failed; returns the wait before the next (Retry-After honoured, a refusal retried slowly)."""
        self.poll_failures += 1
        self.last_error = error
        if isinstance(error, Forbidden):
            logger.error("The scheduler refused this node's credentials; retrying slowly: %s", error)
            return self.options.max_backoff
        if not isinstance(error, SchedulerError):
            logger.exception("Unexpected error while polling the scheduler", exc_info=error)
        else:
            logger.warning("Polling the scheduler failed (%d in a row): %s", self.poll_failures, error)
        retry_after = error.retry_after if isinstance(error, Throttled) else None
        return max(self.failed_poll_delay(), retry_after or 0.0)

    def schedule_poll(self, now: float, delay: float, request_timeout: float) -> float:
        """Plan the next poll ``delay`` from now; with fail_closed, early enough that its answer (at most
        ``request_timeout``) can arrive before the value goes stale. Returns the delay planned."""
        if self.options.fail_closed and self.confirmed_at is not None and self.state is not None:
            latest = self.confirmed_at + self.options.max_staleness - request_timeout - now
            if latest > 0:
                delay = max(0.0, min(delay, latest))
        self.next_poll_at = now + delay
        return delay

    def _take(self, fresh: SchedulerState, source: Source) -> bool:
        if self.state is not None and not supersedes(fresh.etag, self.state.etag):
            return False
        self.state, self.source = fresh, source
        return True

    # --- what it answers -----------------------------------------------------------------------------------
    def age(self, now: float) -> float | None:
        """Seconds since the value was last confirmed; 0 while subscribed; None before the first value."""
        if self.confirmed_at is None and self.state is None:
            return None
        if self.subscribed and self.state is not None:
            return 0.0
        return now - self.confirmed_at if self.confirmed_at is not None else None

    def stale(self, now: float) -> bool:
        age = self.age(now)
        return age is None or age > self.options.max_staleness

    def answer(self, now: float) -> bool:
        """Paused before the first value; with fail_closed, once stale; else the value held (fail static)."""
        if self.state is None:
            return True
        if self.options.fail_closed and self.stale(now):
            return True
        return self.state.is_paused

    def status(self, now: float, running: bool) -> WatcherStatus:
        if not running:
            return WatcherStatus.STOPPED
        if self.subscribed:
            return WatcherStatus.SUBSCRIBED
        return WatcherStatus.STALE if self.stale(now) else WatcherStatus.POLLING


def _due(moment: float | None, now: float) -> bool:
    return moment is not None and now >= moment
