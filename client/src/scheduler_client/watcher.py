"""``PauseWatcher``: a node's view of the switch, polled in the background, answered from memory, fail-closed."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from types import TracebackType

from scheduler_client.client import SchedulerClient
from scheduler_client.errors import Forbidden, SchedulerError, Throttled
from scheduler_client.state import SchedulerState

logger = logging.getLogger("scheduler_client.watcher")

OnChange = Callable[[bool, bool], None]


class PauseWatcher:
    """Polls the scheduler every ``interval`` seconds (± ``jitter``, a fraction) with If-None-Match, so an
    unchanged switch costs a 304 without a body; ``is_paused()`` answers from memory.

    - The first poll after ``start()`` comes at a uniformly random point of the first interval: a fleet that
      restarts at once does not arrive at once.
    - Errors never overwrite the value: on 429, 5xx and network errors the last good value stays, and polls
      back off (``interval * 2**failures``, at most ``max_backoff``, never sooner than Retry-After); on 403
      the error is logged loudly and polls go on at ``max_backoff``.
    - ``is_paused()`` is the last good value while it is at most ``max_staleness`` seconds old. Before the
      first good read, or after ``max_staleness`` without one, it is True (paused: a node that cannot know
      does not schedule), unless ``fail_closed=False``, which answers the last value known (False if none).
    - ``on_change(old, new)`` is called once per change of the value between two good reads, from the
      polling thread; the first read is not a change.

    ``clock`` (monotonic seconds) and ``rng`` are for tests; ``poll()`` runs one poll in the caller's thread.
    """

    def __init__(  # noqa: PLR0913 - keyword-only options, as the package documents them
        self,
        client: SchedulerClient,
        *,
        interval: float = 10.0,
        jitter: float = 0.1,
        max_staleness: float = 60.0,
        fail_closed: bool = True,
        on_change: OnChange | None = None,
        max_backoff: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0 or max_staleness <= 0:
            raise ValueError("interval and max_staleness must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the interval, from 0 up to (not including) 1")
        self.client = client
        self.interval = interval
        self.jitter = jitter
        self.max_staleness = max_staleness
        self.fail_closed = fail_closed
        self.on_change = on_change
        self.max_backoff = max(interval, max_backoff if max_backoff is not None else 60.0)
        self._clock = clock
        # Pseudo-random is right here: it spreads polls, it guards no secret.
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311
        self._lock = threading.Lock()
        self._state: SchedulerState | None = None
        self._good_at: float | None = None
        self._failures = 0
        self._last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what a node asks, never touching the network -------------------------------------------------
    def is_paused(self) -> bool:
        with self._lock:
            state, age = self._state, self._age()
        if state is not None and age is not None and age <= self.max_staleness:
            return state.is_paused
        if self.fail_closed:
            return True
        return state.is_paused if state is not None else False

    def age(self) -> float | None:
        """Seconds since the last good read (200 or 304); None before the first."""
        with self._lock:
            return self._age()

    @property
    def last_error(self) -> Exception | None:
        """The error of the latest poll; None once a poll succeeds again."""
        with self._lock:
            return self._last_error

    @property
    def state(self) -> SchedulerState | None:
        """The last good state read (its value, ETag and Last-Modified), however old."""
        with self._lock:
            return self._state

    # --- the polling ---------------------------------------------------------------------------------
    def start(self) -> PauseWatcher:
        if self._thread is not None:
            raise RuntimeError("this watcher is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scheduler-pause-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; waits for a poll in flight (at most the client's timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> PauseWatcher:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def first_delay(self) -> float:
        """When the first poll comes after ``start()``: anywhere in the first interval."""
        return self._rng.uniform(0.0, self.interval)

    def poll(self) -> float:
        """One poll; returns the seconds to wait before the next."""
        with self._lock:
            known = self._state
        try:
            fresh = self.client.get_if_changed(known.etag if known is not None else None, retry=False)
        except Exception as error:  # a poll must never end the watcher: the error is kept and logged
            return self._failed(error)
        with self._lock:
            self._good_at = self._clock()
            self._failures = 0
            self._last_error = None
            if fresh is not None:
                self._state = fresh
        if fresh is not None and known is not None and fresh.is_paused != known.is_paused:
            self._notify(known.is_paused, fresh.is_paused)
        return self.interval * self._rng.uniform(1 - self.jitter, 1 + self.jitter)

    def _failed(self, error: Exception) -> float:
        with self._lock:
            self._failures += 1
            self._last_error = error
            failures = self._failures
        if isinstance(error, Forbidden):
            logger.error("The scheduler refused this node's credentials; still paused-safe, retrying slowly: %s", error)
            return self.max_backoff
        if not isinstance(error, SchedulerError):
            logger.exception("Unexpected error while polling the scheduler", exc_info=error)
        else:
            logger.warning("Polling the scheduler failed (%d in a row): %s", failures, error)
        backoff = min(self.max_backoff, self.interval * 2.0**failures)
        delay = backoff * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        retry_after = error.retry_after if isinstance(error, Throttled) else None
        return max(delay, retry_after or 0.0)

    def _notify(self, old: bool, new: bool) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(old, new)
        except Exception:  # a node's callback must not stop the watcher
            logger.exception("on_change raised")

    def _run(self) -> None:
        delay = self.first_delay()
        while not self._stop.wait(delay):
            delay = self.poll()

    def _age(self) -> float | None:
        return None if self._good_at is None else self._clock() - self._good_at
