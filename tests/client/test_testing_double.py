"""scheduler_client.testing.FakePauseWatcher: what a node author sets from their own tests, answering as a
PauseWatcher does."""

from __future__ import annotations

import inspect

from scheduler_client import PauseWatcher
from scheduler_client.testing import FakePauseWatcher
from scheduler_client.watcher import WatcherStatus


def test_it_answers_what_the_test_sets_and_calls_on_change_once_per_change() -> None:
    calls: list[tuple[bool, bool]] = []
    watcher = FakePauseWatcher(paused=False, on_change=lambda old, new: calls.append((old, new)))

    assert watcher.is_paused() is False
    watcher.set_paused(True)
    watcher.set_paused(True)  # no change: no call
    watcher.set_paused(False, source="poll")

    assert calls == [(False, True), (True, False)]
    assert (watcher.source, watcher.age(), watcher.ready) == ("poll", 0.0, True)
    assert watcher.state is not None
    assert watcher.state.etag is not None


def test_before_a_value_it_answers_paused_like_the_real_one() -> None:
    calls: list[tuple[bool, bool]] = []
    watcher = FakePauseWatcher(paused=None, on_change=lambda old, new: calls.append((old, new)))

    assert (watcher.is_paused(), watcher.age(), watcher.source, watcher.ready) == (True, None, None, False)
    watcher.set_paused(False)
    assert calls == [(True, False)]


def test_status_listeners_hear_start_stop_and_what_the_test_sets() -> None:
    seen: list[tuple[str, str]] = []
    watcher = FakePauseWatcher()
    watcher.add_status_listener(lambda old, new: seen.append((old.value, new.value)))

    with watcher:
        watcher.set_status(WatcherStatus.POLLING)
        watcher.set_age(42.0)
        assert watcher.age() == 42.0

    assert seen == [("stopped", "subscribed"), ("subscribed", "polling"), ("polling", "stopped")]
    assert watcher.started == 1


def test_it_has_every_public_method_and_property_of_the_real_watcher() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(PauseWatcher)
        if not name.startswith("_") and "ǁ" not in name  # mutmut's trampolines, under make mutate
    }
    # Configuration and the test hooks of the real one are not a node's to call.
    options = {
        "interval",
        "jitter",
        "fail_closed",
        "max_staleness",
        "max_backoff",
        "reconnect_spread",
        "verify_interval",
    }
    own = {"first_delay", "run_pending", "poll", "reconnect_cap", "push_timeout", *options}
    missing = {name for name in public - own if not hasattr(FakePauseWatcher, name)}
    assert missing == set()
