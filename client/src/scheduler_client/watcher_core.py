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
    topic: str = ""  # the push topic, for the logs
    interval: float = 10.0
    jitter: float = 0.1
    fail_closed: bool = False
    max_staleness: float = 60.0
    max_backoff: float = 60.0
    reconnect_spread: float = RECONNECT_FIRST
    reconnect_cap: float = 60.0
    push_timeout: float = 10.0
    verify_interval: float = 3600.0  # while push is live, a conditional poll this often (0: never)

    @classmethod
    def checked(  # noqa: PLR0913 - keyword-only, as PauseWatcher documents them
        cls,
        *,
        push: bool,
        topic: str,
        interval: float,
        jitter: float,
        fail_closed: bool,
        max_staleness: float,
        max_backoff: float | None,
        fleet_size: int,
        reconnect_cap: float,
        push_timeout: float,
        verify_interval: float,
    ) -> Options:
        if interval <= 0 or max_staleness <= 0:
            raise ValueError("interval and max_staleness must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the interval, from 0 up to (not including) 1")
        if fleet_size < 1 or reconnect_cap < RECONNECT_FIRST or push_timeout <= 0:
            raise ValueError("fleet_size must be at least 1, reconnect_cap at least 1 s, push_timeout positive")
        if verify_interval < 0:
            raise ValueError("verify_interval is seconds between verification polls, or 0 for none")
        spread = max(RECONNECT_FIRST, fleet_size / CONNECTS_PER_SECOND)
        return cls(
            push=push,
            topic=topic,
            interval=interval,
            jitter=jitter,
            fail_closed=fail_closed,
            max_staleness=max_staleness,
            max_backoff=max(interval, max_backoff if max_backoff is not None else 60.0),
            reconnect_spread=spread,
            reconnect_cap=max(reconnect_cap, spread),
            push_timeout=push_timeout,
            verify_interval=verify_interval,
        )


class PushDiverged(Exception):
    """The API answered another state than push gave, with no push message since the poll was sent: the
    subscription is not delivering (a policy without iot:Receive, a silent broker, a wrong topic)."""


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
        self.last_divergence: tuple[float, PushDiverged] | None = None  # when, and what; kept once resolved
        self.reset_runtime()

    def reset_runtime(self) -> None:
        """Forget one run's connection and timers (a start after fork()); the value and its age are kept."""
        self.connected = False  # a push connection is open (subscribed or not yet)
        self.subscribed = False  # the connection's SUBACK came
        self.live = False  # a message arrived on this connection: push is up, and the value is live
        self.next_verify_at: float | None = None
        self.poll_sent_at: float | None = None
        self.last_message_at: float | None = None
        self.divergence: PushDiverged | None = None  # told once to the thin layer, which reconnects
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
    def _draw(self, backoff: Backoff, attempt: int) -> float:
        # uniform(0, 1) is random() itself; a test's rng that places uniform() within its range places this too.
        return backoff.delay(attempt, self.rng.uniform(0.0, 1.0))

    def first_delay(self) -> float:
        """When the first poll comes, without push: within the first second (at most the interval), spread."""
        return self._draw(Backoff(min(1.0, self.options.interval), min(1.0, self.options.interval)), 0)

    def steady_poll_delay(self) -> float:
        """The next poll after a good answer: the interval, give or take the jitter."""
        return self._draw(Backoff(self.options.interval, self.options.interval, self.options.jitter), 0)

    def failed_poll_delay(self) -> float:
        """After ``poll_failures`` failures in a row: doubling from twice the interval up to max_backoff, jittered."""
        backoff = Backoff(self.options.interval, self.options.max_backoff, self.options.jitter)
        return self._draw(backoff, self.poll_failures)

    def reconnect_delay(self, error: Exception, after_drop: bool) -> float:
        """Exponential from the backoff base (one second, or the fleet's spread after a drop), full jitter,
        capped; a refused connection waits one to two minutes."""
        if isinstance(error, PushRefused):
            return REFUSED_MIN + self._draw(Backoff(REFUSED_MIN, REFUSED_MIN), 0)
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
        self.live = False

    def push_due(self, now: float) -> PushDue:
        return PushDue(
            connect=self.options.push and not self.connected and _due(self.next_connect_at, now),
            give_up=self.connected and not self.live and _due(self.connect_deadline, now),
        )

    def poll_due(self, now: float) -> bool:
        return (
            (self.polling and _due(self.next_poll_at, now))
            or _due(self.bootstrap_poll_at, now)
            or (self.live and _due(self.next_verify_at, now))
        )

    def give_up_error(self) -> TimeoutError:
        """Why a connection that did not go live within push_timeout failed."""
        if self.subscribed:
            return TimeoutError(f"subscribed, but no message arrived within {self.options.push_timeout:g} s")
        return TimeoutError(f"no subscription within {self.options.push_timeout:g} s")

    def next_wake(self, now: float) -> float:
        """Seconds until something is due."""
        moments = [self.next_poll_at if self.polling else None, self.bootstrap_poll_at]
        if self.options.push:
            moments.append(self.next_connect_at if not self.connected else None)
            moments.append(self.connect_deadline if not self.live else None)
            moments.append(self.next_verify_at if self.live else None)
        if self.options.fail_closed and self.confirmed_at is not None and not self.live and not self.stale(now):
            moments.append(self.confirmed_at + self.options.max_staleness + 0.001)  # the moment it goes stale
        due = [moment - now for moment in moments if moment is not None]
        return max(0.0, min(due, default=LONGEST_WAIT * 12))

    # --- push ----------------------------------------------------------------------------------------------
    def connecting(self, now: float) -> None:
        self.last_connect_at = now

    def opened(self, now: float) -> None:
        """The connection is open: a message must arrive on it within push_timeout."""
        self.connected = True
        if not self.live:
            self.connect_deadline = now + self.options.push_timeout

    def push_subscribed(self, now: float) -> bool:
        """The SUBACK came; False when already subscribed (nothing changes). Push is not live until a message
        arrives: the retained one must come within push_timeout of it."""
        if self.subscribed:
            return False
        self.subscribed = True
        if not self.live:
            self.connect_deadline = now + self.options.push_timeout
            if self.state is None:  # no value yet: one poll gives it while the retained message is awaited
                self.bootstrap_poll_at = now + min(2.0, self.options.interval)
        return True

    def push_message(self, now: float, fresh: SchedulerState | None, payload: bytes) -> bool:
        """A message on the topic; True when its value is taken (it supersedes the one held)."""
        if fresh is None:
            logger.warning("Ignored a push message that is not the scheduler's: %r", payload[:200])
            return False
        if not self.live:  # the first readable message on this connection: push is live
            self._mark_live(now)
        self.last_message_at = now
        self.bootstrap_poll_at = None
        self.confirmed_at = now
        taken = self._take(fresh, "push")
        if not taken and self.state is not None and fresh.etag != self.state.etag:
            self._verify_soon(now)
        return taken

    def _verify_soon(self, now: float) -> None:
        """An older message than the one held: a late duplicate, or the topic went back under this node (a
        forged or restored newer message, then replaced by the entry's before any repair saw it, so no heal
        comes). Only the API can tell: one poll, spread over the interval (a fleet sees the message at once),
        and at most one per interval however many such messages come. Its answer wins (_take_from_the_api)."""
        at = now + self._draw(Backoff(self.options.interval, self.options.interval), 0)
        if self.poll_sent_at is not None:
            at = max(at, self.poll_sent_at + self.options.interval)
        if self.next_verify_at is None or at < self.next_verify_at:
            self.next_verify_at = at

    def push_lost(self, now: float, error: Exception) -> float:
        """The connection ended (or failed while open); returns the wait before the next connect."""
        was_subscribed = self.live
        if was_subscribed and not isinstance(error, PushRefused):
            self.connect_failures = 0
            logger.warning("Push connection lost (%s): polling until it is back", error)
        return self.push_failed(now, error, after_drop=was_subscribed)

    def push_failed(self, now: float, error: Exception, *, after_drop: bool = False) -> float:
        """Push is unavailable: plan the next connect, and poll meanwhile. Returns the wait before the connect."""
        self.connected = False
        if self.live:
            self.confirmed_at = now  # the value was live until now
        elif self.subscribed and not isinstance(error, PushRefused):
            logger.error("Subscribed to %s, but no message arrived on it: polling (%s)", self.options.topic, error)
        self.subscribed = False
        self.live = False
        self.next_verify_at = None
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
            self.start_polling(now, self._draw(Backoff(spread, spread), 0))
        if isinstance(error, PushRefused):
            logger.error("The push broker refused this node; polling, and retrying push in %.0f s: %s", delay, error)
        elif not after_drop:
            logger.warning("Push unavailable (%s); polling, retrying push in %.1f s", error, delay)
        return delay

    def _mark_live(self, now: float) -> None:
        """Push is up: stop polling, forget the failures, and verify by a poll now and then."""
        self.subscribed = True
        self.live = True
        self.polling = False
        self.next_poll_at = None
        self.connect_failures = 0
        self.backoff_base = RECONNECT_FIRST
        self.connect_deadline = None
        self.last_error = None
        if self.state is not None:
            self.confirmed_at = now
        self.next_verify_at = self._verify_at(now)
        logger.info("Subscribed to the scheduler switch by push")

    def _verify_at(self, now: float) -> float | None:
        if self.options.verify_interval <= 0:
            return None
        interval = self.options.verify_interval
        return now + self._draw(Backoff(interval, interval, self.options.jitter), 0)

    # --- polling -------------------------------------------------------------------------------------------
    def start_polling(self, now: float, delay: float) -> None:
        self.polling = True
        self.next_poll_at = now + delay

    def poll_started(self, now: float) -> str | None:
        """A poll begins: the tag it sends in If-None-Match."""
        self.bootstrap_poll_at = None
        self.poll_sent_at = now
        if self.live:
            self.next_verify_at = self._verify_at(now)
        return self.state.etag if self.state is not None else None

    def poll_answered(self, now: float, fresh: SchedulerState | None) -> float:
        """The API answered (None: not modified); returns the wait before the next poll."""
        self.poll_failures = 0
        if not self.live:
            self.last_error = None
            self.confirmed_at = now
        if fresh is not None:
            self._take_from_the_api(now, fresh)
        return self.steady_poll_delay()

    def _take_from_the_api(self, now: float, fresh: SchedulerState) -> None:
        """The API reads the entry strongly: its answer counts whatever the tags (a restored entry, a forged
        message held), unless a push message arrived after the poll was sent, which the ordering then decides.
        A live subscription that gave another state is a divergence: logged, and the connection is dropped."""
        pushed_since = self.last_message_at is not None and (
            self.poll_sent_at is None or self.last_message_at >= self.poll_sent_at
        )
        if pushed_since:
            self._take(fresh, "poll")
            return
        held = self.state
        self.state, self.source = fresh, "poll"
        if self.live and held is not None and held.etag != fresh.etag:
            self.divergence = PushDiverged(f"push gave {held.etag}, the API answers {fresh.etag}")
            self.last_error = self.divergence
            self.last_divergence = (now, self.divergence)
            logger.error("Push and the API disagree: the API's answer wins (%s)", self.divergence)

    def take_divergence(self) -> PushDiverged | None:
        """A divergence found by the last poll, once: the thin layer drops the connection and reconnects."""
        divergence, self.divergence = self.divergence, None
        return divergence

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
        if self.live and self.state is not None:
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
        if self.live:
            return WatcherStatus.SUBSCRIBED
        return WatcherStatus.STALE if self.stale(now) else WatcherStatus.POLLING


def _due(moment: float | None, now: float) -> bool:
    return moment is not None and now >= moment
