"""The errors a caller matches by name: a contract, in one place.

Lambda reports an exception that leaves the handler by its class name (``errorType``), and a state machine's
``Retry`` and ``Catch`` match that name (``ErrorEquals`` in ``statemachines/*.asl.json``); so do pipelines that
start those machines and catch their failures. Renaming a class here is a breaking change for all of them:
``tests/infrastructure/test_error_contract.py`` checks that every name the definitions match is defined here,
and that the direct edge lets each refusal through under its own name.

The HTTP edge maps the same classes to status codes (400, 412, 422, 500). Errors no caller matches by name stay
beside their feature (``rules.UnsupportedMediaType``, ``store.CorruptSchedulerEntry``, ...).
"""

from __future__ import annotations

from typing import Any


class InvalidSchedulerUpdate(Exception):
    """The update is not acceptable; nothing was read or written. The message says why, in words a caller can
    act on (HTTP 400)."""


class InvalidMaintenanceWindow(Exception):
    """A maintenance window's input is not acceptable; nothing was read or written."""


class IdempotencyKeyReused(Exception):
    """An idempotency key already used for a different update: one key per logical write (HTTP 422)."""


class SchedulerEntryMissing(Exception):
    """The one scheduler item does not exist (or its table does not): HTTP 500 with a fixed text."""

    def __init__(self, message: str = "The scheduler entry is missing from the database.") -> None:
        super().__init__(message)


class SchedulerPreconditionFailed(Exception):
    """The entry is not at the version the caller named (``If-Match`` / ``if_match``); nothing was written
    (HTTP 412). ``current`` is the entry DynamoDB returned (a ``store.Entry``), or None when no version could
    match and DynamoDB was not asked."""

    def __init__(self, current: Any | None) -> None:
        super().__init__(
            f"the scheduler is at version {current.version} ({current.etag})"
            if current
            else "no version of the scheduler was named"
        )
        self.current = current


class SchedulerInternalError(Exception):
    """A fault the caller cannot act on but may retry; the details are in the function's log only."""


def refusals() -> tuple[type[Exception], ...]:
    """The named refusals the direct edge raises as they are, for a state machine to catch: a caller's
    mistake or a state it must handle, never a fault. Anything else becomes SchedulerInternalError."""
    return (
        InvalidSchedulerUpdate,
        InvalidMaintenanceWindow,
        IdempotencyKeyReused,
        SchedulerEntryMissing,
        SchedulerPreconditionFailed,
    )
