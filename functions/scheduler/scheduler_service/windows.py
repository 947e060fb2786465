"""Maintenance windows: how they hold the pause with leases on the item, and how a window's open and close
are read, planned and written (the MaintenanceWindow state machine drives them through the direct edge).

The planning is pure (``plan_open``, ``plan_close``); ``open_window`` and ``close_window`` read the entry, plan
on it, and write conditionally on the version read (``store.write_leases``), again after another writer came
in between, a bounded number of times. The leases: ``{window id: expiry, epoch seconds}`` on the item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from scheduler_service import store
from scheduler_service.errors import InvalidMaintenanceWindow, SchedulerPreconditionFailed

# A lease outlives its window by this much, so the window's own resume (and its retries) still finds it;
# a stopped execution's lease stops holding the pause this long after its window would have ended.
LEASE_GRACE_SECONDS = 900
# A window's read-then-write, tried again after another writer came in between, at most this often.
WINDOW_WRITE_ATTEMPTS = 5


class EntryContended(Exception):
    """Other writers changed the item between a window's read and its write, every time it tried."""


class WindowResult(NamedTuple):
    """A maintenance window's open or close: what it did, and the state it left."""

    outcome: str
    state: store.Entry
    lease_expires_at: int | None = None


class LeasePlan(NamedTuple):
    """What a window's open or close does to the item: the leases to store, the switch to set (None: leave
    the item alone) and the outcome to report."""

    outcome: str
    leases: dict[str, int]
    is_paused: bool | None


def parse_wait_seconds(value: Any, maximum: int) -> int:
    """A window's length: a whole number of seconds from 0 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidMaintenanceWindow(
            f'"wait_seconds" must be a whole number of seconds from 0 to {maximum}, not {json.dumps(value)}.'
        )
    return value


def plan_open(window: str, *, is_paused: bool, leases: Mapping[str, int], now: int, expires_at: int) -> LeasePlan:
    """Open a window. A running switch is paused under this window's lease. A pause that other windows hold
    (their leases, expired or not: a stopped window's pause is still a window's pause) is joined. A pause
    with no lease at all was made by hand: the window takes no lease, so it will not resume it."""
    if is_paused and not leases:
        return LeasePlan("already_paused", {}, None)
    held = {holder: expiry for holder, expiry in leases.items() if expiry > now} if is_paused else {}
    return LeasePlan("paused" if not is_paused else "joined", {**held, window: expires_at}, True)


def plan_close(window: str, *, is_paused: bool, leases: Mapping[str, int], now: int) -> LeasePlan:
    """Close a window. Without its lease (a manual write cleared every lease) the switch is someone else's:
    left alone. With other unexpired leases the pause stays theirs. Otherwise the window resumes."""
    if window not in leases:
        return LeasePlan("changed_during_window", dict(leases), None)
    others = {holder: expiry for holder, expiry in leases.items() if holder != window and expiry > now}
    if not is_paused:
        return LeasePlan("changed_during_window", others, False)
    if others:
        return LeasePlan("held_by_other_window", others, True)
    return LeasePlan("resumed", {}, False)


def open_window(window: str, *, wait_seconds: int, write: store.WriteRequest) -> WindowResult:
    """Pause for a maintenance window under its lease (plan_open): read, then a write conditional on
    the version read, again after a conflicting writer, a bounded number of times."""
    now = store.clock()
    expires_at = int(now.timestamp()) + wait_seconds + LEASE_GRACE_SECONDS

    def plan(state: store.Entry) -> LeasePlan:
        return plan_open(
            window, is_paused=state.is_paused, leases=state.leases, now=int(now.timestamp()), expires_at=expires_at
        )

    def replayed(state: store.Entry) -> str:
        return "paused" if state.changed_pause else "joined"

    outcome, state = _apply_window_plan(plan, replayed, write)
    return WindowResult(outcome, state, state.leases.get(window))


def close_window(window: str, *, write: store.WriteRequest) -> WindowResult:
    """End a maintenance window (plan_close): resume only when no other lease holds the pause and no
    hand changed the switch meanwhile."""
    now = int(store.clock().timestamp())

    def plan(state: store.Entry) -> LeasePlan:
        return plan_close(window, is_paused=state.is_paused, leases=state.leases, now=now)

    def replayed(state: store.Entry) -> str:
        return "held_by_other_window" if state.is_paused else "resumed"

    outcome, state = _apply_window_plan(plan, replayed, write)
    return WindowResult(outcome, state)


def _apply_window_plan(
    plan_for: Callable[[store.Entry], LeasePlan],
    replayed_outcome: Callable[[store.Entry], str],
    write: store.WriteRequest,
) -> tuple[str, store.Entry]:
    """Read, plan, write conditionally on the version read; a replay of this very step (same token) is
    answered with the state it made, told from the item's recent writes."""
    for _ in range(WINDOW_WRITE_ATTEMPTS):
        state = store.read_state()
        done = state.recent_write(write.token)
        if done is not None:  # this very step ran before and its answer was lost
            made = state.as_written_by(done, write.request_id)
            return replayed_outcome(made), made
        plan = plan_for(state)
        if plan.is_paused is None:
            return plan.outcome, state
        try:
            return plan.outcome, store.write_leases(plan.is_paused, plan.leases, write, read_version=state.version)
        except SchedulerPreconditionFailed:
            continue  # someone wrote between the read and the write: plan again on what they left
        except store.AlreadyWritten as done_meanwhile:
            made = done_meanwhile.entry.as_written_by(done_meanwhile.write, write.request_id)
            return replayed_outcome(made), made
    raise EntryContended(f"the scheduler entry changed under the window {WINDOW_WRITE_ATTEMPTS} times")
