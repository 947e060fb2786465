"""The direct-invoke edge: Step Functions (or any AWS caller) invoking the function without API Gateway.

``{}`` reads the switch; ``{"is_paused": bool}`` sets it; ``"if_match"`` carries an ETag from an earlier
answer and ``"caller"`` names who is asking (the state machine execution) for the audit. The answer is
``{"is_paused": bool, "etag": "..."}``. Failures are raised as exceptions whose class names a state machine
catches: ``SchedulerEntryMissing``, ``InvalidSchedulerUpdate``, ``PreconditionFailed``.
"""

from __future__ import annotations

from typing import Any

import rules
import store
from observability import logger, record_pause_change

CONTROL_FIELDS = ("if_match", "caller")
DEFAULT_CALLER = "direct-invoke"


class SchedulerInternalError(Exception):
    """A fault the caller cannot act on; the details are in the function's log only."""


def handle(event: Any) -> dict[str, Any]:
    try:
        return _handle(event)
    except (rules.InvalidSchedulerUpdate, store.SchedulerEntryMissing, store.PreconditionFailed):
        raise
    except Exception:
        logger.exception("Unexpected error")
        raise SchedulerInternalError("Internal error: the function log has the details.") from None


def _handle(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise rules.InvalidSchedulerUpdate('The input must be a JSON object such as {"is_paused": true}.')
    fields = {name: value for name, value in event.items() if name not in CONTROL_FIELDS}
    if_match = event.get("if_match")
    caller = event.get("caller", DEFAULT_CALLER)
    if if_match is not None and not isinstance(if_match, str):
        raise rules.InvalidSchedulerUpdate('Field "if_match" must be an ETag string such as "\\"3\\"".')
    if not isinstance(caller, str) or not caller:
        raise rules.InvalidSchedulerUpdate('Field "caller" must be a non-empty string.')
    if not fields:
        if if_match is not None:
            raise rules.InvalidSchedulerUpdate('Field "if_match" only applies to an update: add "is_paused".')
        return _answer(store.read_state())
    update = rules.parse_update(fields)  # the very rules the HTTP edge applies
    expected = rules.parse_if_match(if_match) if if_match is not None else None
    state = store.write_pause(update.is_paused, actor=caller, expected_versions=expected)
    record_pause_change(state)
    return _answer(state)


def _answer(state: store.SchedulerState) -> dict[str, Any]:
    return {"is_paused": state.is_paused, "etag": rules.etag_for(state.version)}
