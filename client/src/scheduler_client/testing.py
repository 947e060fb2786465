"""A watcher for a node's own tests: the switch is whatever the test sets, with no network and no thread.

    from scheduler_client.testing import FakePauseWatcher

    def test_my_worker_runs_nothing_while_paused():
        watcher = FakePauseWatcher(paused=True)
        worker = MyWorker(watcher)          # it takes a PauseWatcher, or anything with the same methods
        assert worker.run_due_jobs() == []
        watcher.set_paused(False)           # on_change and the status listeners are called, here and now
        assert worker.run_due_jobs() != []

It answers like a ``PauseWatcher`` (``is_paused``, ``age``, ``source``, ``status``, ``state``, ``ready``,
``start``, ``stop``, ``postfork``, status and state listeners, ``on_change``), so a node's code can take either.
"""

from __future__ import annotations

from types import TracebackType

from scheduler_client.state import SchedulerState
from scheduler_client.watcher import OnChange, OnState, OnStatus, PushDiverged, Source, WatcherStatus


class FakePauseWatcher:
    """``paused=None`` is a watcher with no value yet (it answers paused, as the real one does)."""

    def __init__(
        self,
        paused: bool | None = False,
        *,
        on_change: OnChange | None = None,
        source: Source = "push",
    ) -> None:
        self.on_change = on_change
        self._source: Source = source
        self._listeners: list[OnStatus] = []
        self._state_listeners: list[OnState] = []
        self._status = WatcherStatus.STOPPED
        self._state: SchedulerState | None = None
        self._version = 0
        self._age = 0.0
        self.started = 0
        if paused is not None:
            self._set(paused)

    # --- what the test does -------------------------------------------------------------------------
    def set_paused(self, paused: bool, *, source: Source | None = None) -> None:
        """A new value, as push or a poll would bring it: on_change is called when what ``is_paused``
        answers changes."""
        before = self.is_paused()
        self._source = source or self._source
        self._set(paused)
        if self.on_change is not None and before != paused:
            self.on_change(before, paused)

    def set_status(self, status: WatcherStatus) -> None:
        old, self._status = self._status, status
        if old != status:
            for listener in list(self._listeners):
                listener(old, status)

    def set_age(self, seconds: float) -> None:
        self._age = seconds

    # --- what a node asks ------------------------------------------------------------------------------
    def is_paused(self) -> bool:
        return True if self._state is None else self._state.is_paused

    def age(self) -> float | None:
        return None if self._state is None else self._age

    @property
    def source(self) -> Source | None:
        return None if self._state is None else self._source

    @property
    def state(self) -> SchedulerState | None:
        return self._state

    @property
    def status(self) -> WatcherStatus:
        return self._status

    @property
    def ready(self) -> bool:
        return self._state is not None

    @property
    def last_error(self) -> Exception | None:
        return None

    @property
    def last_divergence(self) -> tuple[float, PushDiverged] | None:
        return None

    def wait_ready(self, timeout: float) -> bool:
        return self.ready

    def add_status_listener(self, listener: OnStatus) -> None:
        self._listeners.append(listener)

    def remove_status_listener(self, listener: OnStatus) -> None:
        self._listeners.remove(listener)

    def add_state_listener(self, listener: OnState) -> None:
        self._state_listeners.append(listener)

    def remove_state_listener(self, listener: OnState) -> None:
        self._state_listeners.remove(listener)

    def start(self, wait: float | None = None) -> FakePauseWatcher:
        self.started += 1
        self.set_status(WatcherStatus.SUBSCRIBED if self._source == "push" else WatcherStatus.POLLING)
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.set_status(WatcherStatus.STOPPED)

    def postfork(self) -> None:
        """Nothing to redo: it has no thread and no connection."""

    def __enter__(self) -> FakePauseWatcher:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _set(self, paused: bool) -> None:
        self._version += 1
        old, self._state = self._state, SchedulerState(paused, f'"{self._version}.{"p" if paused else "r"}.fake"', None)
        for listener in list(self._state_listeners):
            listener(old, self._state)
