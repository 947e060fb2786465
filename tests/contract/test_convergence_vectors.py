"""Every convergence vector of docs/protocol/convergence-vectors.json, run against the shared code: what the
repair does with the entry and the retained message, so the fleet converges to the entry whatever the topic
holds (a lost publish, poison, a restore of an older item, a forged message)."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler_contract.convergence import (
    MAX_CLOCK_SKEW_MS,
    Action,
    Verdict,
    from_the_future,
    incarnation_millis,
    repair_action,
    retained_verdict,
)
from scheduler_contract.tags import Tag, parse_etag
from tests.contract.conftest import protocol_file

DOCUMENT = protocol_file("convergence-vectors.json")
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
NOW_MS: int = DOCUMENT["now_ms"]


def tag(text: str | None) -> Tag | None:
    if text is None or text == "unreadable":
        return None
    parsed = parse_etag(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_the_repair_acts_on_each_vector_as_the_file_says(vector: dict[str, Any]) -> None:
    entry = tag(vector["entry"])
    assert entry is not None
    again = tag(vector["entry_again"])

    action = repair_action(entry, tag(vector["retained"]), NOW_MS, again)

    assert action == Action(vector["action"]), vector["reason"]


def test_the_vectors_cover_every_action() -> None:
    assert {vector["action"] for vector in VECTORS} == {action.value for action in Action}


def test_an_incarnation_says_when_its_entry_was_made() -> None:
    made = 1_764_576_000_123  # 2025-12-01T08:00:00.123Z

    assert incarnation_millis(_base36(made) + "a1b2") == made
    assert incarnation_millis("b") == 11  # short ones (hand-made) are from long ago, never from the future


def test_only_a_tag_from_more_than_a_day_ahead_is_from_the_future() -> None:
    day_ahead = Tag(1, False, _base36(NOW_MS + MAX_CLOCK_SKEW_MS) + "0000")
    beyond = Tag(1, False, _base36(NOW_MS + MAX_CLOCK_SKEW_MS + 1) + "0000")

    assert not from_the_future(day_ahead, NOW_MS)
    assert from_the_future(beyond, NOW_MS)
    assert not from_the_future(Tag(1, False), NOW_MS)  # no incarnation: restored by hand
    assert retained_verdict(Tag(0, True), beyond, NOW_MS) is Verdict.BEHIND


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(8):
        number, digit = divmod(number, 36)
        out = digits[digit] + out
    return out
