"""The watcher's decisions on their own (watcher_core.WatcherCore): numbers in, decisions out. No thread, no
socket, no sleep and no clock but the ``now`` each call is given; the random source places every draw at a
known point of its range (MidRandom), so every wait is exact."""

from __future__ import annotations

import logging
from typing import Any

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
        "topic": "scheduler-control/prod/pause",
        "interval": 10.0,
        "jitter": 0.1,
        "fail_closed": False,
        "max_staleness": 60.0,
        "max_backoff": None,
        "fleet_size": 1000,
        "reconnect_cap": 60.0,
        "push_timeout": 10.0,
        "verify_interval": 3600.0,
        **options,
    }
    return WatcherCore(Options.checked(**settings), MidRandom(at))  # type: ignore[arg-type]


def subscribed_with(value: SchedulerState, now: float = 0.0, **options: Any) -> WatcherCore:
    watcher = core(**options)
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


def test_an_older_message_than_the_one_held_asks_the_api_once_within_the_interval() -> None:
    # A forged newer message taken, then the entry's own (older) message: the topic went back under this node,
    # and no repair will heal it (the topic now holds the entry). Only the API can tell which is the truth.
    watcher = subscribed_with(state(55, False), verify_interval=0.0, at=0.25)
    assert watcher.next_verify_at is None  # push alone, and nothing contradicts it

    watcher.push_message(4.0, state(5, True), b"")

    assert watcher.next_verify_at == 4.0 + 0.25 * 10.0  # spread over the interval: a fleet sees it at once
    assert watcher.next_wake(4.0) == pytest.approx(2.5)
    assert watcher.poll_due(6.5) is True
    assert watcher.poll_started(6.5) == f'"55.r.{INCARNATION}"'
    watcher.poll_answered(7.0, state(5, True))
    assert (watcher.state, watcher.source) == (state(5, True), "poll")  # the API's answer wins
    assert watcher.take_divergence() is not None  # and the subscription is dropped, to be made again


def test_a_duplicate_or_newer_message_asks_the_api_nothing() -> None:
    watcher = subscribed_with(state(5, True), verify_interval=0.0)

    watcher.push_message(1.0, state(5, True), b"")  # a duplicate: QoS 1, or the retained one again
    watcher.push_message(2.0, state(6, False), b"")

    assert watcher.next_verify_at is None


def test_older_messages_ask_the_api_at_most_once_per_interval() -> None:
    watcher = subscribed_with(state(9, False), verify_interval=0.0, at=0.0)
    watcher.push_message(1.0, state(8, True), b"")
    assert watcher.next_verify_at == 1.0
    watcher.poll_started(1.0)
    watcher.poll_answered(1.5, None)

    watcher.push_message(2.0, state(7, True), b"")  # another one at once: not before the interval has passed
    assert watcher.next_verify_at == 11.0
    watcher.push_message(3.0, state(6, True), b"")  # more of them plan nothing more
    assert watcher.next_verify_at == 11.0


def test_an_older_message_never_puts_off_a_verification_already_due_sooner() -> None:
    watcher = subscribed_with(state(9, False), verify_interval=5.0, at=0.0, jitter=0.0)
    assert watcher.next_verify_at == 0.0 + 5.0

    watcher.poll_started(0.5)  # a verification, and then another is planned 5 s on
    watcher.poll_answered(0.6, None)
    watcher.push_message(1.0, state(8, True), b"")  # the interval (10 s) from the last poll is later: kept

    assert watcher.next_verify_at == 5.5


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
        topic="scheduler-control/prod/pause",
        interval=90.0,
        jitter=0.2,
        fail_closed=False,
        max_staleness=60.0,
        max_backoff=30.0,
        fleet_size=100_000,
        reconnect_cap=60.0,
        push_timeout=10.0,
        verify_interval=3600.0,
    )

    assert options.max_backoff == 90.0  # never below the interval
    assert options.reconnect_spread == 500.0
    assert options.reconnect_cap == 500.0  # never below the spread
    with pytest.raises(ValueError, match="jitter"):
        core(jitter=1.0)
    with pytest.raises(ValueError, match="positive"):
        core(interval=0.0)
    with pytest.raises(ValueError, match="fleet_size") as refused:
        core(fleet_size=0)
    assert str(refused.value) == "fleet_size must be at least 1, reconnect_cap at least 1 s, push_timeout positive"
    with pytest.raises(ValueError, match="reconnect_cap"):
        core(reconnect_cap=0.5)  # however long push_timeout is
    with pytest.raises(ValueError, match="push_timeout positive"):
        core(push_timeout=0.0)
    with pytest.raises(ValueError, match="verify_interval") as refused:
        core(verify_interval=-1.0)
    assert str(refused.value) == "verify_interval is seconds between verification polls, or 0 for none"


def test_the_smallest_options_allowed_are_allowed() -> None:
    smallest = core(fleet_size=1, reconnect_cap=1.0, push_timeout=0.5, verify_interval=0.0)

    assert (smallest.options.reconnect_spread, smallest.options.reconnect_cap) == (1.0, 1.0)


# --- what the mutation run found unguarded (make mutate, 2026-12-03) -------------------------------------------


def test_a_restart_after_stop_connects_again_and_is_not_live_until_a_message() -> None:
    watcher = subscribed_with(state(3, False))
    watcher.stopped()
    watcher.begin(10.0)

    assert watcher.push_due(10.0).connect is True
    assert watcher.status(10.0, running=True) is not WatcherStatus.SUBSCRIBED
    watcher.connecting(10.0)
    watcher.opened(10.0)
    assert watcher.push_subscribed(10.5) is True  # its SUBACK counts: the old connection's is gone


def test_the_subscription_deadline_runs_from_the_suback() -> None:
    watcher = core(push_timeout=10.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)
    watcher.opened(0.0)
    watcher.push_subscribed(8.0)

    assert watcher.push_due(12.0).give_up is False
    assert watcher.push_due(18.0).give_up is True
    assert str(watcher.give_up_error()) == "subscribed, but no message arrived within 10 s"


def test_a_failed_connection_leaves_nothing_subscribed_for_the_next_one() -> None:
    watcher = core(push_timeout=10.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)
    watcher.opened(0.0)
    watcher.push_subscribed(1.0)
    watcher.push_failed(11.0, watcher.give_up_error())
    watcher.connecting(20.0)
    watcher.opened(20.0)

    assert str(watcher.give_up_error()) == "no subscription within 10 s"
    assert watcher.push_subscribed(21.0) is True


def test_errors_are_kept_until_push_is_live_again() -> None:
    watcher = core()
    watcher.begin(0.0)
    lost = ConnectionError("broker gone")
    watcher.push_failed(0.0, OSError("refused"))
    watcher.opened(5.0)
    watcher.push_message(5.0, state(3, False), b"")
    assert watcher.last_error is None

    watcher.push_lost(10.0, lost)

    assert watcher.last_error is lost


def test_only_a_connection_that_had_subscribed_says_no_message_came_and_every_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = core()
    watcher.begin(0.0)

    with caplog.at_level(logging.WARNING, logger="scheduler_client.watcher"):
        watcher.push_failed(0.0, ConnectionRefusedError("refused"))

    assert "no message arrived" not in caplog.text
    assert "Push unavailable (refused); polling, retrying push in" in caplog.text


def test_connections_lost_before_any_message_keep_backing_off() -> None:
    watcher = core(at=1.0)
    watcher.begin(0.0)

    delays = []
    for attempt in range(3):
        watcher.opened(float(attempt * 100))
        delays.append(watcher.push_lost(float(attempt * 100), ConnectionError("dropped")))

    assert delays == [1.0, 2.0, 4.0]  # never live: no reset, no fleet spread


def test_without_a_value_a_lost_push_polls_within_the_first_second() -> None:
    watcher = core(at=1.0, interval=10.0)
    watcher.begin(0.0)

    watcher.push_failed(0.0, OSError("refused"))

    assert watcher.next_poll_at == 1.0


def test_a_poll_answer_after_a_push_message_is_ordered_and_counts_as_from_the_poll() -> None:
    watcher = subscribed_with(state(5, True), now=5.0)
    watcher.poll_started(5.0)  # sent at the very moment the message came: the message counts as after it

    watcher.poll_answered(6.0, state(4, False))
    assert watcher.state == state(5, True)  # older, and push spoke since: ignored
    watcher.poll_started(5.0)
    watcher.poll_answered(6.0, state(6, False))
    assert (watcher.state, watcher.source) == (state(6, False), "poll")
    assert watcher.take_divergence() is None


def test_a_polling_node_follows_the_api_without_calling_it_a_divergence() -> None:
    watcher = core(push=False)
    watcher.begin(0.0)
    watcher.poll_started(1.0)
    watcher.poll_answered(1.0, state(9, False))
    watcher.poll_started(2.0)
    watcher.poll_answered(2.0, state(8, True))  # a restore: the API wins

    assert watcher.state == state(8, True)
    assert watcher.take_divergence() is None
    assert watcher.last_error is None


def test_a_divergence_is_kept_as_the_error_and_told_once() -> None:
    watcher = subscribed_with(state(5, False), now=0.0)
    watcher.poll_started(10.0)
    watcher.poll_answered(11.0, state(6, True))

    divergence = watcher.take_divergence()
    assert divergence is not None
    assert watcher.last_error is divergence
    assert str(divergence) == f'push gave "5.r.{INCARNATION}", the API answers "6.p.{INCARNATION}"'
    assert watcher.take_divergence() is None
    assert watcher.last_divergence == (11.0, divergence)  # when the answer came, kept after it is told


def test_the_last_divergence_outlives_the_error_it_was() -> None:
    watcher = subscribed_with(state(5, False), now=0.0)
    watcher.poll_started(10.0)
    watcher.poll_answered(11.0, state(6, True))
    watcher.take_divergence()
    watcher.push_lost(12.0, ConnectionError("dropped after the divergence"))
    watcher.poll_started(20.0)

    watcher.poll_answered(21.0, None)  # the API answers: the error is over, the divergence's record stays

    assert watcher.last_error is None
    assert watcher.last_divergence is not None
    assert watcher.last_divergence[0] == 11.0


def test_a_short_verify_interval_is_honoured_and_woken_for() -> None:
    watcher = core(verify_interval=0.5, at=0.5, push_timeout=10.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)
    watcher.opened(0.0)
    watcher.push_message(0.0, state(3, False), b"")

    assert watcher.next_verify_at == pytest.approx(0.5)
    assert watcher.next_wake(0.0) == pytest.approx(0.5)
    assert watcher.poll_due(0.5) is True


def test_a_live_node_with_nothing_due_wakes_within_a_minute() -> None:
    watcher = core(verify_interval=0.0)
    watcher.begin(0.0)
    watcher.connecting(0.0)
    watcher.opened(0.0)
    watcher.push_message(0.0, state(3, False), b"")

    assert watcher.next_wake(0.0) == 60.0


def test_the_next_poll_is_capped_to_what_fail_closed_allows_even_under_a_second() -> None:
    watcher = core(push=False, fail_closed=True, max_staleness=60.0)
    watcher.poll_answered(0.0, state(3, False))

    assert watcher.schedule_poll(59.0, 10.0, request_timeout=0.5) == pytest.approx(0.5)
    assert watcher.schedule_poll(59.6, 10.0, request_timeout=0.5) == 10.0  # too late to answer in time anyway


def test_a_new_watcher_has_seen_no_divergence() -> None:
    assert core().last_divergence is None
