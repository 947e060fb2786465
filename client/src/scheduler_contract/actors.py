"""Through what a change was made (``via``), from how its author is recorded (``updated_by``)."""

from __future__ import annotations

# How each writer records itself: the direct edge (state machines, other callers), the deploy's custom
# resource, `make restore-entry` and `scheduler restore`, the local stack. Anyone else came through the API.
VIAS = (
    ("stepfunctions:", "state machine"),
    ("direct:", "direct invocation"),
    ("cloudformation", "deploy"),
    ("operator:", "restore"),
    ("local-stack", "local stack"),
)


def via_of(updated_by: str | None) -> str:
    """``api``, ``state machine``, ``direct invocation``, ``deploy``, ``restore``, ``local stack``, or
    ``unknown`` when nobody is recorded."""
    actor = updated_by or ""
    for prefix, via in VIAS:
        if actor.startswith(prefix):
            return via
    return "api" if actor else "unknown"
