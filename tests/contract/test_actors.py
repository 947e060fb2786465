"""Through what a change was made, read from how its author is recorded: the same for the status view (the
service) and the history (the client)."""

from __future__ import annotations

import pytest

from scheduler_contract.actors import via_of

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:scheduler-control-dev-maintenance-window:n-42"


@pytest.mark.parametrize(
    ("updated_by", "via"),
    [
        ("arn:aws:sts::123456789012:assumed-role/Operator/alice", "api"),
        (f"stepfunctions:{EXECUTION}", "state machine"),
        ("direct:pipeline", "direct invocation"),
        ("cloudformation", "deploy"),
        ("cloudformation:fail-closed", "deploy"),
        ("operator:arn:aws:iam::123456789012:user/bob", "restore"),
        ("local-stack", "local stack"),
        (None, "unknown"),
    ],
)
def test_through_what_a_change_was_made(updated_by: str | None, via: str) -> None:
    assert via_of(updated_by) == via
