"""The watcher's decisions on their own (watcher_core.WatcherCore): numbers in, decisions out. No thread, no
socket, no sleep and no clock but the ``now`` each call is given; the random source places every draw at a
known point of its range (MidRandom), so every wait is exact."""

from __future__ import annotations

import logging

import pytest

from scheduler_client import SchedulerState
from scheduler_client.errors import Forbidden, ServerError, Throttled, Unreachable
from scheduler_client.push import PushRefused
from scheduler_client.watcher_core import (
    CONNECTS_PER_SECOND,
    REFUSED_MIN,
    Options,
    WatcherCore,
    WatcherStatus,
)
from tests.client.fakes import INCARNATION, MidRandom


def state(version: int, is_paused: bool, incarnation: str = INCARNATION) -> SchedulerState:
    return SchedulerState(is_paused, f'"{version}.{"p" if is_paused else "r"}.{incarnation}"', None)


def core(*, push: bool = True, at: float = 1.0, **options: object) -> WatcherCore:
    settings: dict[str, object] = {
        "push": push,
        "interval": 10.0,
        "jitter": 0.1,
        "fail_closed": False,
        "max_staleness": 60.0,
        "max_backoff": None,
        "fleet_size": 1000,
        "reconnect_cap": 60.0,
        "push_timeout": 10.0,
        **options,
    }
    return WatcherCore(Options.checked(**settings), MidRandom(at))  # type: ignore[arg-type]


def subscribed_with(value: SchedulerState, now: float = 0.0) -> WatcherCore:
    watcher = core()
    watcher.begin(now)
    watcher.connecting(now)
    watcher.opened(now)
    watcher.push_subscribed(now)
    watcher.push_message(now, value, b"")
    return watcher


# --- what it answers -------------------------------------------------------------------------------------


def test_before_its_first_value_it_answers_paused_and_stale() -> None:
    watcher = core()
    watcher.begin(0.0)

    assert watcher.answer(0.0) is True
    assert watcher.age(0.0) is None
    assert watcher.status(0.0, running=True) is WatcherStatus.STALE
    assert watcher.status(0.0, running=False) is WatcherStatus.STOPPED


def test_a_value_held_is_kept_however_old_when_push_and_polls_fail() -> None:
    watcher = subscribed_with(state(3, False))
    watcher.push_lost(100.0, ConnectionError("broker gone"))
    watcher.poll_failed(Unreachable("down"))

    assert watcher.answer(100_000.0) is False  # fail static
    assert watcher.age(100_000.0) == pytest.approx(99_900.0)
    assert watcher.status(100_000.0, running=True) is WatcherStatus.STALE


def test_fail_closed_answers_paused_once_the_value_is_older_than_max_staleness() -> None:
    watcher = core(fail_closed=True, max_staleness=30.0)
    watcher.begin(0.0)
    watcher.poll_answered(5.0, state(3, False))

    assert watcher.answer(35.0) is False
    assert watcher.answer(35.001) is True


def test_while_subscribed_the_value_is_live() -> None:
    watcher = subscribed_with(state(3, True), now=7.0)

    assert (watcher.answer(500.0), watcher.age(500.0), watcher.source) == (True, 0.0, "push")
    assert watcher.status(500.0, running=True) is WatcherStatus.SUBSCRIBED


# --- ordering ----------------------------------------------------------------------------------------------


def test_only_a_newer_state_is_taken_from_push_or_poll() -> None:
    watcher = subscribed_with(state(5, True))

    assert watcher.push_message(1.0, state(4, False), b"") is False  # late, older
    assert watcher.push_message(1.0, state(5, True), b"") is False  # a duplicate
    assert watcher.push_message(1.0, state(6, False), b"") is True
    watcher.poll_answered(2.0, state(5, True))  # a stale poll answer changes nothing either

    assert watcher.state == state(6, False)
    assert watcher.source == "push"


def test_an_unreadable_message_is_ignored_and_logged_and_keeps_the_subscription(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = subscribed_with(state(5, True))

    with caplog.at_level(logging.WARNING, logger="scheduler_client.watcher"):
        assert watcher.push_message(3.0, None, b"[[[[") is False

    assert (watcher.state, watcher.subscribed) == (state(5, True), True)
    assert "not the scheduler's: b'[[[['" in caplog.text


# --- push: connecting, subscribing, giving up --------------------------------------------------------------


def test_with_push_it_connects_at_once_and_gives_up_on_a_subscription_after_push_timeout() -> None:
    watcher = core(push_timeout=4.0)
    watcher.begin(10.0)

    assert watcher.push_due(10.0).connect is True
    watcher.connecting(10.0)
    watcher.opened(10.5)
    assert watcher.push_due(14.4) == (False, False)
    assert watcher.push_due(14.5) == (False, True)
    assert watcher.next_wake(11.0) == pytest.approx(3.5)


def test_a_subscription_without_a_retained_message_asks_the_api_once_soon() -> None:
    watcher = core(interval=10.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)
    watcher.opened(0.0)

    assert watcher.push_subscribed(1.0) is True
    assert watcher.push_subscribed(1.5) is False  # a second SUBACK changes nothing
    assert watcher.poll_due(2.9) is False
    assert watcher.poll_due(3.0) is True  # two seconds after the SUBACK
    assert watcher.poll_started(3.0) is None  # it sends no If-None-Match: it holds nothing
    assert watcher.poll_due(3.0) is False


def test_a_failed_connect_polls_at_once_without_a_value_and_retries_no_sooner_than_a_second() -> None:
    watcher = core(at=0.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)

    delay = watcher.push_failed(0.2, ConnectionRefusedError("refused"))

    assert delay == 0.0  # full jitter at the bottom of its range
    assert watcher.next_connect_at == 1.0  # one connect per second per client id
    assert watcher.polling
    assert watcher.next_poll_at == 0.2
    assert watcher.last_error is not None


def test_reconnects_double_from_a_second_up_to_the_cap() -> None:
    watcher = core(reconnect_cap=60.0)
    watcher.begin(0.0)

    delays = [watcher.push_failed(float(attempt), OSError("down")) for attempt in range(9)]

    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_after_a_drop_the_whole_fleets_reconnects_start_from_its_spread_until_one_subscribes() -> None:
    watcher = subscribed_with(state(3, False))
    spread = 5000 / CONNECTS_PER_SECOND

    first = watcher.push_lost(10.0, ConnectionError("broker restarted"))
    second = watcher.push_failed(20.0, OSError("still down"))
    watcher.opened(30.0)
    watcher.push_subscribed(30.0)
    watcher.push_message(30.0, state(3, False), b"")  # live again: its message arrived
    after = watcher.push_failed(40.0, OSError("a lone failure"))

    assert (first, second) == (5.0, 10.0)  # fleet_size 1000: 5 s, then doubling from there
    assert after == 1.0  # subscribed again: back to one second
    assert spread == 25.0  # a larger fleet spreads wider (checked in test_push_fleet_reconnect.py at scale)


def test_a_refused_connection_retries_after_one_to_two_minutes() -> None:
    low, high = core(at=0.0), core(at=1.0)
    for watcher in (low, high):
        watcher.begin(0.0)

    assert low.push_failed(0.0, PushRefused("not authorised")) == REFUSED_MIN
    assert high.push_failed(0.0, PushRefused("not authorised")) == 2 * REFUSED_MIN


def test_losing_push_polls_from_somewhere_in_the_interval_and_counts_the_age_from_the_loss() -> None:
    watcher = subscribed_with(state(3, False))

    watcher.push_lost(100.0, ConnectionError("gone"))

    assert watcher.next_poll_at == pytest.approx(110.0)  # at=1.0: the end of the interval
    assert watcher.age(104.0) == pytest.approx(4.0)
    assert watcher.status(104.0, running=True) is WatcherStatus.POLLING


# --- polling -----------------------------------------------------------------------------------------------


def test_without_push_the_first_poll_comes_within_the_first_second() -> None:
    early, late = core(push=False, at=0.0), core(push=False, at=1.0)
    early.begin(50.0)
    late.begin(50.0)

    assert (early.next_poll_at, late.next_poll_at) == (50.0, 51.0)
    assert early.push_due(50.0).connect is False


def test_good_polls_come_every_interval_give_or_take_the_jitter() -> None:
    low, high = core(push=False, at=0.0), core(push=False, at=1.0)

    assert low.poll_answered(0.0, None) == pytest.approx(9.0)
    assert high.poll_answered(0.0, None) == pytest.approx(11.0)


def test_failed_polls_back_off_exponentially_up_to_max_backoff() -> None:
    watcher = core(push=False, at=0.5, interval=2.0, max_backoff=30.0)

    delays = [watcher.poll_failed(ServerError("boom", status=502)) for _ in range(6)]

    assert delays == pytest.approx([4, 8, 16, 30, 30, 30])
    assert watcher.poll_answered(0.0, None) == pytest.approx(2.0)  # a good answer ends the backoff
    assert watcher.poll_failed(ServerError("boom", status=502)) == pytest.approx(4.0)


def test_a_refusal_is_retried_slowly_and_retry_after_is_honoured() -> None:
    watcher = core(push=False, max_backoff=120.0)

    assert watcher.poll_failed(Forbidden("no", status=403)) == 120.0
    assert watcher.poll_failed(Throttled("slow down", status=429, retry_after=500.0)) == 500.0


def test_a_day_of_failed_polls_never_overflows_the_backoff() -> None:
    watcher = core(push=False, interval=10.0, max_backoff=60.0)

    delays = [watcher.poll_failed(Unreachable("down")) for _ in range(2_000)]

    assert max(delays) <= 66.0  # 60 s and its jitter, after 2**2000 would have overflowed a float


def test_with_fail_closed_the_next_poll_is_planned_to_answer_before_the_value_goes_stale() -> None:
    watcher = core(push=False, fail_closed=True, max_staleness=60.0)
    watcher.poll_answered(0.0, state(3, False))

    planned = watcher.schedule_poll(40.0, 100.0, request_timeout=5.0)

    assert planned == pytest.approx(15.0)  # 0 + 60 - 5 - 40: its answer can still come in time
    assert watcher.next_poll_at == pytest.approx(55.0)
    assert core(push=False).schedule_poll(40.0, 100.0, request_timeout=5.0) == 100.0  # fail static: not hurried


def test_it_wakes_for_the_nearest_thing_due() -> None:
    watcher = core(push=False, fail_closed=True, max_staleness=60.0)
    watcher.begin(0.0)
    watcher.poll_answered(0.0, state(3, False))
    watcher.schedule_poll(0.0, 30.0, request_timeout=0.0)

    assert watcher.next_wake(10.0) == pytest.approx(20.0)
    watcher.schedule_poll(0.0, 100.0, request_timeout=0.0)
    assert watcher.next_wake(10.0) == pytest.approx(50.0)  # fail closed: polled again before it goes stale
    watcher.polling = False
    assert watcher.next_wake(10.0) == pytest.approx(50.001)  # and woken when it goes stale


def test_options_are_checked_and_the_derived_ones_computed() -> None:
    options = Options.checked(
        push=True,
        interval=90.0,
        jitter=0.2,
        fail_closed=False,
        max_staleness=60.0,
        max_backoff=30.0,
        fleet_size=100_000,
        reconnect_cap=60.0,
        push_timeout=10.0,
    )

    assert options.max_backoff == 90.0  # never below the interval
    assert options.reconnect_spread == 500.0
    assert options.reconnect_cap == 500.0  # never below the spread
    with pytest.raises(ValueError, match="jitter"):
        core(jitter=1.0)
    with pytest.raises(ValueError, match="positive"):
        core(interval=0.0)
    with pytest.raises(ValueError, match="fleet_size"):
        core(fleet_size=0)
