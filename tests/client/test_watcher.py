"""PauseWatcher with a scripted client and an injected clock: no network, no sleeping. Each poll is run with
``poll()``, which returns the wait before the next; the background thread only loops over it."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any, cast

import pytest

from scheduler_client import (
    Forbidden,
    PauseWatcher,
    SchedulerClient,
    SchedulerState,
    ServerError,
    Throttled,
    Unreachable,
)
from tests.clocks import Clock

PAUSED_7 = SchedulerState(True, '"7"', None)
RESUMED_8 = SchedulerState(False, '"8"', None)
UNCHANGED = None  # what get_if_changed answers for a 304


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


def watcher_of(client: ScriptedClient, clock: Clock, *, at: float = 0.5, **options: Any) -> PauseWatcher:
    return PauseWatcher(cast(SchedulerClient, client), clock=clock, rng=MidRandom(at), **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- fail closed ------------------------------------------------------------------------------------------


def test_before_the_first_good_read_it_answers_paused(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(RESUMED_8), clock)
    assert watcher.is_paused() is True
    assert watcher.age() is None
    assert watcher.state is None


def test_after_a_good_read_it_answers_the_value_until_max_staleness(clock: Clock) -> None:
    client = ScriptedClient(RESUMED_8, Unreachable("down"))
    watcher = watcher_of(client, clock, interval=10, max_staleness=60)
    watcher.poll()
    assert watcher.is_paused() is False
    watcher.poll()  # fails: the value stays
    clock.now += 60
    assert watcher.is_paused() is False
    assert watcher.age() == 60
    clock.now += 0.001
    assert watcher.is_paused() is True  # stale: fail closed


def test_fail_closed_false_answers_the_last_value_however_old(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(RESUMED_8), clock, fail_closed=False)
    assert watcher.is_paused() is False  # nothing known: not paused, as asked
    watcher.poll()
    clock.now += 3600
    assert watcher.is_paused() is False
    paused = watcher_of(ScriptedClient(PAUSED_7), clock, fail_closed=False)
    paused.poll()
    clock.now += 3600
    assert paused.is_paused() is True


def test_is_paused_never_touches_the_network(clock: Clock) -> None:
    client = ScriptedClient(RESUMED_8)
    watcher = watcher_of(client, clock)
    watcher.poll()
    for _ in range(100):
        watcher.is_paused()
    assert len(client.etags) == 1


# --- 304 ----------------------------------------------------------------------------------------------


def test_polls_send_the_etag_and_a_304_keeps_the_value_and_refreshes_its_age(clock: Clock) -> None:
    client = ScriptedClient(PAUSED_7, UNCHANGED)
    watcher = watcher_of(client, clock, max_staleness=60)
    watcher.poll()
    clock.now += 50
    watcher.poll()
    assert client.etags == [None, '"7"']
    assert watcher.state == PAUSED_7
    assert watcher.age() == 0
    clock.now += 50
    assert watcher.is_paused() is True
    assert watcher.age() == 50


# --- errors never overwrite the value ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [Throttled("slow down", status=429), ServerError("boom", status=500), Unreachable("timed out"), ValueError("bug")],
    ids=["429", "500", "unreachable", "unexpected"],
)
def test_an_error_keeps_the_last_good_value_and_is_reported(clock: Clock, error: Exception) -> None:
    watcher = watcher_of(ScriptedClient(RESUMED_8, error, RESUMED_8), clock)
    watcher.poll()
    watcher.poll()
    assert watcher.state == RESUMED_8
    assert watcher.is_paused() is False
    assert watcher.last_error is error
    watcher.poll()
    assert watcher.last_error is None


def test_errors_back_off_exponentially_up_to_the_cap(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(ServerError("boom", status=502)), clock, interval=2, jitter=0.1, max_backoff=30)
    # At the middle of the jitter: interval * 2**failures, capped at 30.
    assert [watcher.poll() for _ in range(6)] == pytest.approx([4, 8, 16, 30, 30, 30])


def test_backoff_is_jittered(clock: Clock) -> None:
    low = watcher_of(ScriptedClient(Unreachable("x")), clock, interval=2, jitter=0.1, at=0.0)
    high = watcher_of(ScriptedClient(Unreachable("x")), clock, interval=2, jitter=0.1, at=1.0)
    assert (low.poll(), high.poll()) == pytest.approx((3.6, 4.4))


def test_retry_after_is_never_undercut(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(Throttled("busy", status=503, retry_after=25)), clock, interval=2)
    assert watcher.poll() == 25


def test_a_good_read_ends_the_backoff(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(Unreachable("x"), Unreachable("x"), UNCHANGED), clock, interval=2, jitter=0.1)
    watcher.poll()
    watcher.poll()
    assert watcher.poll() == pytest.approx(2)
    assert watcher.poll() == pytest.approx(2)


def test_forbidden_is_logged_loudly_and_retried_slowly(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    watcher = watcher_of(
        ScriptedClient(RESUMED_8, Forbidden("not authorized", status=403)), clock, interval=2, max_backoff=120
    )
    watcher.poll()
    with caplog.at_level(logging.ERROR, logger="scheduler_client.watcher"):
        assert watcher.poll() == 120
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "not authorized" in caplog.records[0].getMessage()
    assert watcher.is_paused() is False  # still the last good value while fresh


# --- the schedule of polls ---------------------------------------------------------------------------------


def test_later_polls_come_at_interval_plus_or_minus_jitter(clock: Clock) -> None:
    waits = [watcher_of(ScriptedClient(UNCHANGED), clock, interval=10, jitter=0.1, at=at).poll() for at in (0, 0.5, 1)]
    assert waits == pytest.approx([9, 10, 11])


def test_first_polls_of_a_fleet_are_spread_over_the_interval(clock: Clock) -> None:
    seeded = random.Random(7)
    firsts = [
        PauseWatcher(
            cast(SchedulerClient, ScriptedClient(UNCHANGED)), interval=2.0, rng=random.Random(seeded.random())
        ).first_delay()
        for _ in range(2000)
    ]
    assert all(0 <= first <= 2.0 for first in firsts)
    # Evenly: each tenth of the interval gets about a tenth of the fleet (2000 / 10 = 200; binomial sd ~13).
    counts = [sum(1 for f in firsts if k * 0.2 <= f < (k + 1) * 0.2) for k in range(10)]
    assert max(counts) < 260
    assert min(counts) > 140


# --- on_change ----------------------------------------------------------------------------------------------


def test_on_change_is_called_once_per_change_not_for_the_first_read(clock: Clock) -> None:
    calls: list[tuple[bool, bool]] = []
    script = [RESUMED_8, UNCHANGED, PAUSED_7, Unreachable("x"), UNCHANGED, SchedulerState(True, '"9"', None), RESUMED_8]
    watcher = watcher_of(ScriptedClient(*script), clock, on_change=lambda old, new: calls.append((old, new)))
    for _ in script:
        watcher.poll()
    assert calls == [(False, True), (True, False)]


def test_a_failing_callback_does_not_stop_the_watcher(clock: Clock) -> None:
    def explode(old: bool, new: bool) -> None:
        raise RuntimeError("node bug")

    watcher = watcher_of(ScriptedClient(RESUMED_8, PAUSED_7), clock, on_change=explode)
    watcher.poll()
    watcher.poll()
    assert watcher.state == PAUSED_7
    assert watcher.is_paused() is True


# --- the thread ---------------------------------------------------------------------------------------------


def test_start_polls_in_the_background_and_stop_ends_it(clock: Clock) -> None:
    client = ScriptedClient(RESUMED_8)
    # A tiny interval: the first poll comes within it; the test waits on the client's event, not on time.
    with watcher_of(client, clock, interval=0.01) as watcher:
        assert client.polled.wait(10)
    assert watcher._thread is None
    count = len(client.etags)
    assert watcher.is_paused() is False
    assert len(client.etags) == count


def test_arguments_are_checked() -> None:
    client = cast(SchedulerClient, ScriptedClient(UNCHANGED))
    make: list[Callable[[], PauseWatcher]] = [
        lambda: PauseWatcher(client, interval=0),
        lambda: PauseWatcher(client, max_staleness=-1),
        lambda: PauseWatcher(client, jitter=1.0),
        lambda: PauseWatcher(client, jitter=-0.1),
    ]
    for build in make:
        with pytest.raises(ValueError, match=r"must be positive|jitter is a fraction"):
            build()


def test_defaults_poll_every_10_seconds_and_go_stale_after_60() -> None:
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(UNCHANGED)))
    assert (watcher.interval, watcher.jitter, watcher.max_staleness, watcher.max_backoff) == (10.0, 0.1, 60.0, 60.0)
    assert watcher.fail_closed is True
    assert watcher.last_error is None


def test_zero_jitter_is_allowed_and_the_messages_say_what_is_wrong() -> None:
    client = cast(SchedulerClient, ScriptedClient(UNCHANGED))
    assert PauseWatcher(client, jitter=0).jitter == 0
    with pytest.raises(ValueError, match=r"^interval and max_staleness must be positive$"):
        PauseWatcher(client, max_staleness=0)
    with pytest.raises(ValueError, match=r"^jitter is a fraction of the interval, from 0 up to \(not including\) 1$"):
        PauseWatcher(client, jitter=1)
    assert PauseWatcher(client, max_staleness=0.5).max_staleness == 0.5


def test_a_short_interval_backs_off_from_itself_without_a_retry_after(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(Unreachable("x")), clock, interval=0.1, jitter=0.1)
    assert watcher.poll() == pytest.approx(0.2)


def test_the_count_of_failures_restarts_after_a_good_read(clock: Clock) -> None:
    watcher = watcher_of(
        ScriptedClient(Unreachable("x"), Unreachable("x"), UNCHANGED, Unreachable("x")), clock, interval=2
    )
    watcher.poll()
    watcher.poll()
    watcher.poll()
    assert watcher.poll() == pytest.approx(4)  # the first failure again: interval * 2


def test_a_bug_is_logged_with_its_traceback_and_a_service_error_as_a_warning(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = watcher_of(ScriptedClient(ValueError("bug"), ServerError("boom", status=502)), clock)
    with caplog.at_level(logging.WARNING, logger="scheduler_client.watcher"):
        watcher.poll()
        watcher.poll()
    bug, service = caplog.records
    assert (bug.levelno, bug.exc_info is not None) == (logging.ERROR, True)
    assert (service.levelno, service.exc_info) == (logging.WARNING, None)


class BlockingClient(ScriptedClient):
    """A poll that hangs until released, as one against a server that stopped answering mid-request."""

    def __init__(self) -> None:
        super().__init__(UNCHANGED)
        self.release = threading.Event()

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        self.polled.set()
        self.release.wait(30)
        return None


def test_the_thread_is_named_a_daemon_and_stop_waits_at_most_its_timeout(clock: Clock) -> None:
    client = BlockingClient()
    watcher = watcher_of(client, clock, interval=0.01).start()
    thread = watcher._thread
    assert thread is not None
    assert (thread.name, thread.daemon) == ("scheduler-pause-watcher", True)  # never keeps a node from exiting
    assert client.polled.wait(10)
    with pytest.raises(RuntimeError, match=r"^this watcher is already started$"):
        watcher.start()

    watcher.stop(timeout=0.05)  # a poll hangs: stop returns anyway

    assert thread.is_alive()
    client.release.set()
    thread.join(10)
    assert not thread.is_alive()
