"""A whole fleet of push watchers reconnecting after a broker outage, on one injected clock: every watcher is a real
PauseWatcher with its own random generator, the broker is the scripted one of test_push_watcher.py, and time moves
from one watcher's next due moment to the next. What the fleet does is counted against IoT Core's quotas: 500
connects a second per account, one a second per client id."""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from typing import cast

import pytest

from scheduler_client import PauseWatcher, SchedulerClient, WatcherStatus
from tests.client.fakes import UNCHANGED, URL, FakeBroker, ScriptedClient, message
from tests.clocks import Clock

ACCOUNT_CONNECTS_PER_SECOND = 500  # AWS IoT Core's default quota
RECONNECT_CAP = 60.0


def largest_burst(moments: list[float], window: float) -> int:
    """The most moments in any ``window`` seconds."""
    moments = sorted(moments)
    start, most = 0, 0
    for end, moment in enumerate(moments):
        while moments[start] <= moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


class Fleet:
    def __init__(self, size: int, seed: int) -> None:
        self.clock = Clock()
        self.broker = FakeBroker(self.clock)
        self.broker.retained = message(7, False)
        seeds = random.Random(seed)
        self.watchers = [
            PauseWatcher(
                cast(SchedulerClient, ScriptedClient(UNCHANGED)),
                URL,
                fleet_size=size,
                reconnect_cap=RECONNECT_CAP,
                clock=self.clock,
                rng=random.Random(seeds.random()),
                connect=self.broker.connect,
            )
            for _ in range(size)
        ]
        self.due: list[tuple[float, int]] = []

    def start(self) -> None:
        for watcher in self.watchers:
            watcher.start(background=False)
        self.plan_all()

    def plan_all(self) -> None:
        """Every watcher's next due moment, asked afresh (after the broker dropped them all at once)."""
        self.due = [(self.clock.now + watcher.run_pending(), index) for index, watcher in enumerate(self.watchers)]
        heapq.heapify(self.due)

    def run_until(self, moment: float) -> None:
        """Run each watcher at its due moments, in time order, up to ``moment`` (bounded by the heap's moments)."""
        for _ in range(100 * len(self.watchers)):
            if not self.due or self.due[0][0] > moment:
                self.clock.now = max(self.clock.now, moment)
                return
            due_at, index = heapq.heappop(self.due)
            self.clock.now = max(self.clock.now, due_at)
            heapq.heappush(self.due, (self.clock.now + self.watchers[index].run_pending(), index))
        pytest.fail("the fleet did not settle within its step budget")

    def subscribed(self) -> int:
        return sum(watcher.status is WatcherStatus.SUBSCRIBED for watcher in self.watchers)


@pytest.mark.parametrize(("size", "down"), [(1000, 10.0), (1000, 120.0), (3000, 30.0)])
def test_a_fleet_reconnecting_after_an_outage_stays_within_the_connect_quotas(size: int, down: float) -> None:
    fleet = Fleet(size, seed=size + int(down))
    fleet.start()
    fleet.run_until(fleet.clock.now + 1.0)
    assert fleet.subscribed() == size

    fleet.broker.attempts.clear()
    dropped_at = fleet.clock.now
    fleet.broker.go_down()
    fleet.plan_all()
    fleet.run_until(dropped_at + down)
    fleet.broker.refuse = None  # the broker is back
    spread = size / 200
    fleet.run_until(dropped_at + down + max(RECONNECT_CAP, spread) + 1.0)

    assert fleet.subscribed() == size  # every one is back within one reconnect cap of the broker's return
    moments = [moment for moment, _ in fleet.broker.attempts]
    assert largest_burst(moments, 1.0) <= 0.8 * ACCOUNT_CONNECTS_PER_SECOND  # with a fifth of the quota to spare
    by_client: dict[str, list[float]] = defaultdict(list)
    for moment, client_id in fleet.broker.attempts:
        by_client[client_id].append(moment)
    gaps = [later - earlier for tried in by_client.values() for earlier, later in itertools.pairwise(tried)]
    assert min(gaps) >= 1.0 - 1e-9  # one connect a second per client id (the clock adds floats)


def test_the_fleets_first_reconnects_come_at_the_spread_rate_not_all_at_once() -> None:
    fleet = Fleet(1000, seed=7)
    fleet.start()
    fleet.run_until(fleet.clock.now + 1.0)
    dropped_at = fleet.clock.now
    fleet.broker.go_down()
    fleet.broker.refuse = None  # a blip: the broker is back at once, so each first attempt succeeds
    fleet.broker.attempts.clear()
    fleet.plan_all()
    fleet.run_until(dropped_at + 1000 / 200 + 1.0)

    assert fleet.subscribed() == 1000
    moments = [moment - dropped_at for moment, _ in fleet.broker.attempts]
    assert len(moments) == 1000  # one attempt each
    assert max(moments) <= 1000 / 200  # all within the spread ...
    assert largest_burst(moments, 1.0) <= 1.3 * 200  # ... and evenly: about 200 a second, never the whole fleet
