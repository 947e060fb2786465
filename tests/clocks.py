"""An injected clock: tests move time by hand, never by sleeping."""

from __future__ import annotations


class Clock:
    """Monotonic seconds that move only when a test sets ``now``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
