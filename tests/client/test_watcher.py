"""PauseWatcher polling (no push) with a scripted client and an injected clock: no network, no sleeping. Each poll
is run with ``poll()``, which returns the wait before the next; the background thread only loops over it. Push is
tests/client/test_push_watcher.py."""

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
    WatcherStatus,
)
from tests.client.fakes import UNCHANGED, MidRandom, ScriptedClient, run_until
from tests.clocks import Clock

PAUSED_7 = SchedulerState(True, '"7"', None)
RESUMED_8 = SchedulerState(False, '"8"', None)


def watcher_of(client: ScriptedClient, clock: Clock, *, at: float = 0.5, **options: Any) -> PauseWatcher:
    return PauseWatcher(cast(SchedulerClient, client), clock=clock, rng=MidRandom(at), **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- fail static, and fail closed when asked -------------------------------------------------------------


@pytest.mark.parametrize("fail_closed", [False, True])
def test_before_the_first_good_read_it_answers_paused(clock: Clock, fail_closed: bool) -> None:
    watcher = watcher_of(ScriptedClient(RESUMED_8), clock, fail_closed=fail_closed)
    assert watcher.is_paused() is True
    assert watcher.age() is None
    assert watcher.state is None
    assert watcher.source is None


def test_fail_closed_answers_the_value_until_max_staleness_then_paused(clock: Clock) -> None:
    client = ScriptedClient(RESUMED_8, Unreachable("down"))
    watcher = watcher_of(client, clock, interval=10, max_staleness=60, fail_closed=True)
    watcher.poll()
    assert watcher.is_paused() is False
    watcher.poll()  # fails: the value stays
    clock.now += 60
    assert watcher.is_paused() is False
    assert watcher.age() == 60
    clock.now += 0.001
    assert watcher.is_paused() is True  # stale: fail closed


def test_by_default_the_last_value_is_kept_however_old_and_says_how_old(clock: Clock) -> None:
    watcher = watcher_of(ScriptedClient(RESUMED_8, Unreachable("down")), clock)
    watcher.poll()
    watcher.poll()  # fails, and every poll after it for an hour
    clock.now += 3600
    assert watcher.is_paused() is False
    assert (watcher.age(), watcher.source) == (3600, "poll")
    paused = watcher_of(ScriptedClient(PAUSED_7), clock)
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


def test_first_polls_of_a_fleet_come_within_a_second_spread_over_it(clock: Clock) -> None:
    seeded = random.Random(7)
    firsts = [
        PauseWatcher(
            cast(SchedulerClient, ScriptedClient(UNCHANGED)), interval=2.0, rng=random.Random(seeded.random())
        ).first_delay()
        for _ in range(2000)
    ]
    assert all(0 <= first <= 1.0 for first in firsts)  # a node has its first value within a second
    # Evenly: each tenth of the second gets about a tenth of the fleet (2000 / 10 = 200; binomial sd ~13).
    counts = [sum(1 for f in firsts if k * 0.1 <= f < (k + 1) * 0.1) for k in range(10)]
    assert max(counts) < 260
    assert min(counts) > 140


# --- on_change ----------------------------------------------------------------------------------------------


def test_on_change_is_called_once_per_change_of_what_is_paused_answers_the_first_value_included(
    clock: Clock,
) -> None:
    calls: list[tuple[bool, bool]] = []
    script = [RESUMED_8, UNCHANGED, PAUSED_7, Unreachable("x"), UNCHANGED, SchedulerState(True, '"9"', None), RESUMED_8]
    watcher = watcher_of(ScriptedClient(*script), clock, on_change=lambda old, new: calls.append((old, new)))
    for _ in script:
        watcher.poll()
    # Paused before the first value, so a first value that resumes is a change; a repeat of the value is not.
    assert calls == [(True, False), (False, True), (True, False)]


def test_a_first_value_that_is_paused_is_no_change(clock: Clock) -> None:
    calls: list[tuple[bool, bool]] = []
    watcher = watcher_of(ScriptedClient(PAUSED_7), clock, on_change=lambda old, new: calls.append((old, new)))
    watcher.poll()
    assert (calls, watcher.is_paused()) == ([], True)


def test_fail_closed_going_stale_and_fresh_again_is_told_once_each_at_the_moment(clock: Clock) -> None:
    calls: list[tuple[bool, bool]] = []
    client = ScriptedClient(RESUMED_8, Unreachable("down"), Unreachable("down"), UNCHANGED)
    watcher = watcher_of(
        client, clock, interval=10, max_staleness=30, fail_closed=True, on_change=lambda o, n: calls.append((o, n))
    ).start(background=False)
    watcher.poll()
    run_until(watcher, clock, lambda: len(calls) == 2)
    assert calls == [(True, False), (False, True)]
    stale_at = clock.now
    assert watcher.age() == pytest.approx(30.001)  # told the moment it went stale, not at the next poll
    run_until(watcher, clock, lambda: len(calls) == 3)
    assert calls == [(True, False), (False, True), (True, False)]  # the 304 confirmed it: resumed again
    assert clock.now - stale_at < 60


def test_a_failing_callback_does_not_stop_the_watcher(clock: Clock) -> None:
    def explode(old: bool, new: bool) -> None:
        raise RuntimeError("node bug")

    watcher = watcher_of(ScriptedClient(RESUMED_8, PAUSED_7), clock, on_change=explode)
    watcher.poll()
    watcher.poll()
    assert watcher.state == PAUSED_7
    assert watcher.is_paused() is True


# --- the thread ---------------------------------------------------------------------------------------------


def test_start_polls_in_the_background_and_stop_ends_it() -> None:
    client = ScriptedClient(RESUMED_8)
    # A tiny interval: the first poll comes within it; the test waits on the client's event, not on time.
    with PauseWatcher(cast(SchedulerClient, client), interval=0.01) as watcher:
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
    assert watcher.fail_closed is False  # fail static: docs/fleet.md says why
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


def test_the_thread_is_named_a_daemon_and_stop_waits_at_most_its_timeout() -> None:
    client = BlockingClient()
    watcher = PauseWatcher(cast(SchedulerClient, client), interval=0.01).start()
    thread = watcher._thread
    assert thread is not None
    assert (thread.name, thread.daemon) == ("scheduler-pause-watcher", True)  # never keeps a node from exiting
    assert client.polled.wait(10)
    with pytest.raises(RuntimeError, match=r"^this watcher is already started$"):
        watcher.start()

    stopped = threading.Event()

    def stop() -> None:
        watcher.stop(timeout=0.05)
        stopped.set()

    threading.Thread(target=stop, daemon=True).start()

    assert stopped.wait(10)  # a poll hangs for 30 s: stop returns anyway, after its own timeout
    assert thread.is_alive()
    assert watcher._thread is thread  # not forgotten while it runs: start() still refuses
    client.release.set()
    thread.join(10)
    assert not thread.is_alive()


def test_stop_without_a_timeout_returns_once_the_thread_has_ended() -> None:
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(RESUMED_8)), interval=3600).start()
    thread = watcher._thread
    assert thread is not None
    assert watcher.wait_ready(10)

    watcher.stop()  # the thread sleeps until the next poll, an hour away: stop wakes it and waits for its end

    assert not thread.is_alive()
    assert watcher._thread is None


# --- fail closed schedules its polls in time ---------------------------------------------------------------


class TimedClient(ScriptedClient):
    timeout = 5.0  # what SchedulerClient has: one attempt lasts at most this long


def test_with_fail_closed_a_backed_off_poll_still_comes_before_the_value_goes_stale(clock: Clock) -> None:
    client = TimedClient(RESUMED_8, Unreachable("down"))
    watcher = watcher_of(client, clock, interval=10, max_staleness=60, max_backoff=300, fail_closed=True)
    confirmed = clock.now
    watcher.poll()
    for _ in range(5):  # 20 s, 40 s, 80 s ... of backoff would outrun the 60 s
        clock.now += watcher.poll()
        if clock.now < confirmed + 60:
            assert clock.now <= confirmed + 60 - client.timeout  # its answer can come before it goes stale
    assert watcher.is_paused() is True  # and when every try failed, it is stale: paused


def test_with_fail_closed_the_poll_before_staleness_leaves_the_clients_timeout_for_its_answer(clock: Clock) -> None:
    client = TimedClient(RESUMED_8, Unreachable("down"))
    watcher = watcher_of(client, clock, interval=10, max_staleness=60, max_backoff=300, fail_closed=True)
    watcher.poll()  # confirmed now
    clock.now += watcher.poll()  # failed: 20 s of backoff
    assert watcher.poll() == 60 - 20 - 5  # 40 s of backoff would end at the staleness itself: 5 s earlier


def test_with_fail_closed_a_client_without_a_timeout_is_polled_at_the_staleness_itself(clock: Clock) -> None:
    watcher = watcher_of(
        ScriptedClient(RESUMED_8, Unreachable("down")), clock, interval=10, max_staleness=30, fail_closed=True
    )
    watcher.poll()
    assert watcher.poll() == 20  # the backoff, within the 30 s
    clock.now += 20
    assert watcher.poll() == 10  # 40 s of backoff: cut to the moment it goes stale, as no request time is known


def test_without_fail_closed_backoff_is_not_hurried(clock: Clock) -> None:
    watcher = watcher_of(TimedClient(RESUMED_8, Unreachable("down")), clock, interval=10, max_backoff=300)
    watcher.poll()
    assert [watcher.poll() for _ in range(4)] == pytest.approx([20, 40, 80, 160])


# --- the API is the truth ------------------------------------------------------------------------------------


def test_a_poll_answer_counts_whatever_its_tag_for_the_api_reads_the_entry_strongly(clock: Clock) -> None:
    """A restore of an older item: the API answers version 8 while the node holds 9. The API wins."""
    newer = SchedulerState(False, '"9.r.mk3x0a9z7q2c"', None)
    restored = SchedulerState(True, '"8.p.mk3x0a9z7q2c"', None)
    watcher = watcher_of(ScriptedClient(newer, restored), clock)
    watcher.poll()
    watcher.poll()
    assert (watcher.state, watcher.is_paused()) == (restored, True)


# --- status ---------------------------------------------------------------------------------------------------


def test_status_is_told_to_listeners_once_per_change(clock: Clock) -> None:
    seen: list[tuple[str, str]] = []
    watcher = watcher_of(ScriptedClient(RESUMED_8, Unreachable("down")), clock, interval=10, max_staleness=30)
    watcher.add_status_listener(lambda old, new: seen.append((old.value, new.value)))
    assert watcher.status.value == "stopped"
    watcher.start(background=False)
    assert seen == [("stopped", "stale")]  # told by start() itself, before any of the loop's work
    run_until(watcher, clock, lambda: watcher.state is not None)
    run_until(watcher, clock, lambda: watcher.status.value == "stale")
    watcher.stop()
    assert seen == [("stopped", "stale"), ("stale", "polling"), ("polling", "stale"), ("stale", "stopped")]


def test_a_status_listener_removed_hears_nothing_more(clock: Clock) -> None:
    kept: list[str] = []
    removed: list[str] = []

    def hear(old: WatcherStatus, new: WatcherStatus) -> None:
        removed.append(new.value)

    watcher = watcher_of(ScriptedClient(RESUMED_8), clock)
    watcher.add_status_listener(lambda old, new: kept.append(new.value))
    watcher.add_status_listener(hear)
    watcher.remove_status_listener(hear)
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.state is not None)

    assert removed == []
    assert kept == ["stale", "polling"]


def test_a_failing_status_listener_does_not_stop_the_watcher(clock: Clock) -> None:
    def explode(old: object, new: object) -> None:
        raise RuntimeError("node bug")

    watcher = watcher_of(ScriptedClient(RESUMED_8), clock)
    watcher.add_status_listener(explode)
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.state is not None)
    assert watcher.is_paused() is False


# --- stop, start, and waiting for the first value ------------------------------------------------------------


def test_start_with_wait_returns_once_the_first_value_is_known() -> None:
    client = ScriptedClient(RESUMED_8)
    watcher = PauseWatcher(cast(SchedulerClient, client), interval=0.01)
    try:
        assert watcher.start(wait=30).ready is True
        assert watcher.is_paused() is False
    finally:
        watcher.stop()


class SlowClient(ScriptedClient):
    """An API that takes a fifth of a second to answer (Event.wait: a pause the test never synchronises on)."""

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        threading.Event().wait(0.2)
        return super().get_if_changed(etag, retry=retry)


def test_start_with_a_wait_under_a_second_waits_for_the_first_value() -> None:
    watcher = PauseWatcher(cast(SchedulerClient, SlowClient(RESUMED_8)), interval=0.01)
    try:
        assert watcher.start(wait=1.0).ready is True
    finally:
        watcher.stop()


def test_a_poll_whose_answer_comes_after_stop_is_dropped_and_plans_nothing(clock: Clock) -> None:
    class StoppedMeanwhile(ScriptedClient):
        def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
            watcher.stop()
            return super().get_if_changed(etag, retry=retry)

    watcher = watcher_of(StoppedMeanwhile(RESUMED_8), clock)
    watcher.start(background=False)

    assert watcher.poll() == 0.0
    assert watcher.state is None  # the answer belongs to no run
    assert watcher.status.value == "stopped"


def test_start_with_wait_gives_up_after_the_wait() -> None:
    client = BlockingClient()
    watcher = PauseWatcher(cast(SchedulerClient, client), interval=0.01)
    try:
        assert watcher.start(wait=0.05).ready is False
        assert watcher.is_paused() is True
    finally:
        client.release.set()
        watcher.stop()


def test_stop_then_start_never_leaves_two_pollers() -> None:
    client = BlockingClient()
    watcher = PauseWatcher(cast(SchedulerClient, client), interval=0.01).start()
    assert client.polled.wait(10)
    first = watcher._thread
    watcher.stop(timeout=0.01)  # its poll hangs: the thread is still alive
    assert first is not None
    assert first.is_alive()
    client.release.set()  # the hung poll returns while start() waits for its thread to end

    watcher.start()

    assert not first.is_alive()
    alive = [t for t in threading.enumerate() if t.name == "scheduler-pause-watcher" and t.is_alive()]
    assert alive == [watcher._thread]
    watcher.stop()


def test_a_watcher_started_with_a_wait_can_be_used_as_a_context_manager() -> None:
    with PauseWatcher(cast(SchedulerClient, ScriptedClient(RESUMED_8)), interval=0.01).start(wait=30) as watcher:
        assert watcher.is_paused() is False
        thread = watcher._thread
    assert thread is not None
    assert not thread.is_alive()
