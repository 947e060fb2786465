"""Every ordering vector of docs/protocol/ordering-vectors.json, run against the shared code: the file a node in
another language is written from cannot drift from what the service and the Python watcher do."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler_client.state import supersedes as watcher_supersedes
from scheduler_contract.tags import parse_etag, supersedes
from tests.contract.conftest import protocol_file

VECTORS: list[dict[str, Any]] = protocol_file("ordering-vectors.json")["vectors"]


def outcome(held: str | None, incoming: str) -> str:
    """What a node does with a message tagged ``incoming`` while it holds ``held``, by the contract's code."""
    new = parse_etag(incoming)
    if new is None:
        return "ignore"
    if held is None:
        return "apply"
    old = parse_etag(held)
    assert old is not None, "a node holds only tags it could read"
    return "apply" if supersedes(new, old) else "ignore"


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_the_contract_orders_each_vector_as_the_file_says(vector: dict[str, Any]) -> None:
    assert outcome(vector["held"], vector["incoming"]) == vector["outcome"], vector["reason"]


@pytest.mark.parametrize(
    "vector",
    [vector for vector in VECTORS if vector["held"] is not None and parse_etag(vector["incoming"]) is not None],
    ids=lambda vector: vector["name"],
)
def test_the_watcher_orders_readable_tags_as_the_contract_does(vector: dict[str, Any]) -> None:
    applies = watcher_supersedes(vector["incoming"], vector["held"])
    assert ("apply" if applies else "ignore") == vector["outcome"]


def test_the_vectors_cover_every_branch_of_the_rule() -> None:
    """Both outcomes of each rule: incarnation order, one going or appearing, version order, same version."""
    names = {vector["name"] for vector in VECTORS}
    assert {"re-created entry", "old entry's late message", "restored by hand", "first write after a restore"} <= names
    assert {"next version", "older version", "hand edit that pauses", "hand edit that resumes", "duplicate"} <= names
    assert {vector["outcome"] for vector in VECTORS} == {"apply", "ignore"}
    assert all(vector["reason"] for vector in VECTORS)
