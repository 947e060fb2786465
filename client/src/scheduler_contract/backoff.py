"""Capped exponential backoff, the one policy every retry and reconnect of the service and the client goes
through (the node's behaviour: docs/protocol.md).

Attempt ``n`` (from 0) has the ceiling ``min(cap, base * 2**n)``. The delay is drawn below it from a number in
[0, 1) that the caller's random source gives (so tests inject it): with full jitter anywhere in
``[0, ceiling]``, so a fleet that failed together does not retry together; with a ``jitter`` fraction ``j``, in
``ceiling * [1 - j, 1 + j]``, for periodic work that should keep its rhythm.
"""

from __future__ import annotations

from typing import NamedTuple

# 2**64 times any real base is far past every cap; beyond it the exponent would overflow a float.
MAX_DOUBLINGS = 64


class Backoff(NamedTuple):
    base: float
    cap: float
    jitter: float | None = None  # None: full jitter; a fraction below 1: that much either side of the ceiling

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt`` (0 is the first retry)."""
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), MAX_DOUBLINGS))

    def delay(self, attempt: int, draw: float) -> float:
        """The wait before attempt ``attempt``, for ``draw`` in [0, 1)."""
        ceiling = self.ceiling(attempt)
        if self.jitter is None:
            return ceiling * draw
        low, high = 1 - self.jitter, 1 + self.jitter
        return ceiling * (low + (high - low) * draw)  # as random.uniform(low, high) computes it
