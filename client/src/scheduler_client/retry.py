"""Capped exponential backoff with full jitter, honouring Retry-After, bounded in attempts and in total time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduler_client.errors import SchedulerError, ServerError, Throttled, Unreachable
from scheduler_client.state import parse_http_date
from scheduler_contract.backoff import Backoff

RETRIED_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    """How often and how long the client retries what is safe to retry.

    Attempt ``n`` (from 0) waits a uniform random time in ``[0, min(cap, base * 2**n)]`` (the one backoff
    policy, ``scheduler_contract.backoff``, with full jitter: a fleet that failed together does not retry
    together), or the service's Retry-After if that is longer. A call has ``total`` seconds in all: no attempt
    starts that could end after them (its wait and the attempt's own timeout included), but the first attempt
    always runs.
    """

    max_attempts: int = 5
    base: float = 0.2
    cap: float = 5.0
    total: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    random: Callable[[], float] = field(default_factory=lambda: random.SystemRandom().random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        jittered = Backoff(self.base, self.cap).delay(attempt, self.random())
        return max(jittered, retry_after or 0.0)


NO_RETRY = RetryPolicy(max_attempts=1)


class Budget:
    """The time one call may take (a read, a write, or ``ensure``'s read and write together), from its start."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.started = policy.clock()
        self.attempts = 0

    def allows(self, delay: float, attempt_timeout: float) -> bool:
        """True when waiting ``delay`` and then an attempt of at most ``attempt_timeout`` still ends in time;
        always for the call's first attempt."""
        return self.attempts == 0 or self.policy.clock() - self.started + delay + attempt_timeout <= self.policy.total


def is_retryable(error: SchedulerError) -> bool:
    """429, 502, 503, 504 and no answer at all; never 500 (the service answered: retrying will not help)."""
    if isinstance(error, Unreachable):
        return True
    return isinstance(error, Throttled | ServerError) and error.status in RETRIED_STATUSES


def parse_retry_after(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    moment = parse_http_date(value)
    return max(0.0, (moment - now()).total_seconds()) if moment is not None else None
