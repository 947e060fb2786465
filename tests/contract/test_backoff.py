"""The one backoff policy: exponential ceilings up to a cap, a delay drawn below the ceiling (full jitter) or
around it (a jitter fraction), exact for a given draw, and no attempt count that overflows it."""

from __future__ import annotations

import pytest

from scheduler_contract.backoff import Backoff


def test_ceilings_double_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=60.0)

    assert [backoff.ceiling(attempt) for attempt in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    backoff = Backoff(base=0.2, cap=2.0)

    assert [backoff.delay(attempt, 0.0) for attempt in range(5)] == [0.0] * 5
    assert [backoff.delay(attempt, 0.5) for attempt in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    assert backoff.delay(3, 0.999) == pytest.approx(1.6 * 0.999)


def test_a_jitter_fraction_keeps_the_delay_that_much_either_side_of_the_ceiling() -> None:
    backoff = Backoff(base=10.0, cap=60.0, jitter=0.1)

    assert backoff.delay(0, 0.0) == pytest.approx(9.0)  # the lower bound is kept, not only the upper
    assert backoff.delay(0, 0.5) == pytest.approx(10.0)
    assert backoff.delay(2, 1.0) == pytest.approx(44.0)
    assert backoff.delay(9, 0.0) == pytest.approx(54.0)


def test_no_attempt_count_overflows_and_negative_ones_wait_as_the_first() -> None:
    backoff = Backoff(base=10.0, cap=60.0, jitter=0.1)

    assert backoff.ceiling(5_000) == 60.0  # 2.0 ** 5000 alone would raise OverflowError
    assert backoff.delay(10**9, 0.5) == pytest.approx(60.0)
    assert backoff.ceiling(-1) == 10.0


def test_the_delay_for_a_draw_is_what_random_uniform_gives_for_the_same_draw() -> None:
    """Bit for bit: a caller moving from rng.uniform(low, high) to the policy keeps its exact sequences."""
    import random

    backoff = Backoff(base=10.0, cap=10.0, jitter=0.1)
    first, second = random.Random(7), random.Random(7)

    assert [backoff.delay(0, first.random()) for _ in range(5)] == [10.0 * second.uniform(0.9, 1.1) for _ in range(5)]
