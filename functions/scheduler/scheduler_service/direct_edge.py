"""The direct-invoke edge: Step Functions (or any AWS caller) invoking the function without API Gateway.

``{}`` reads the switch; ``{"is_paused": bool}`` sets it; ``"if_match"`` carries an ETag from an earlier
answer, ``"caller"`` names who is asking (the state machine execution) for the audit, and
``"idempotency_key"`` makes a retried call (a Step Functions task retry) its own success. The answer is
``{"is_paused": bool, "etag": "..."}``.

The heartbeat: ``{"action": "heartbeat"}`` reads the switch and emits its state and age as metrics.

Maintenance windows: ``{"action": "open_window", "wait_seconds": N, "caller": <execution>}`` pauses under
the window's lease; ``{"action": "close_window", "caller": <execution>}`` ends it (windows.open_window /
close_window). Their answers add ``"outcome"``.

Failures are raised as the exceptions of ``errors``, whose class names a state machine catches
(``errors.refusals()``); anything else is a ``SchedulerInternalError`` with a fixed message.

A direct write is recorded as ``stepfunctions:<execution ARN>`` or ``direct:<caller>``: the caller is what the
payload says, so it can never read as an IAM identity (those only come from API Gateway's request context).
"""

from __future__ import annotations

import os
import re
from typing import Any

from scheduler_service import errors, pipe_state, rules, store, validators, windows
from scheduler_service.observability import (
    logger,
    record_direct_refusal,
    record_entry_missing,
    record_heartbeat,
    record_pause_change,
)

CONTROL_FIELDS = ("if_match", "caller", "idempotency_key", "reason")
WINDOW_ACTIONS = ("open_window", "close_window")
DEFAULT_CALLER = "unnamed"
MAX_CALLER_LENGTH = 512
DEFAULT_MAX_WINDOW_SECONDS = 86_400
_EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^\s]+")


def handle(event: Any, request_id: str) -> dict[str, Any]:
    try:
        return _handle(event, request_id)
    except errors.refusals() as refusal:
        if isinstance(refusal, errors.SchedulerEntryMissing):
            record_entry_missing("direct")
        record_direct_refusal(type(refusal).__name__)
        raise
    except Exception:
        logger.exception("Unexpected error")
        raise errors.SchedulerInternalError("Internal error: the function log has the details.") from None


def actor_for(caller: str) -> str:
    """How a direct caller is recorded: never in the form of an IAM identity."""
    prefix = "stepfunctions" if _EXECUTION_ARN.fullmatch(caller) else "direct"
    return f"{prefix}:{caller}"


def _handle(event: Any, request_id: str) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise errors.InvalidSchedulerUpdate('The input must be a JSON object such as {"is_paused": true}.')
    caller = event.get("caller", DEFAULT_CALLER)
    if not isinstance(caller, str) or not caller or len(caller) > MAX_CALLER_LENGTH:
        raise errors.InvalidSchedulerUpdate(f'Field "caller" must be a string of 1 to {MAX_CALLER_LENGTH} characters.')
    reason = event.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise errors.InvalidSchedulerUpdate('Field "reason" must be a string: why the switch changes.')
    write = store.WriteRequest(
        actor=actor_for(caller),
        token=_token(event, caller, request_id),
        request_id=request_id,
        reason=rules.parse_reason(reason, header=False),
    )
    action = event.get("action")
    if action == "heartbeat":
        return _heartbeat(event)
    if action is not None:
        return _window(action, event, caller, write)
    fields = {name: value for name, value in event.items() if name not in CONTROL_FIELDS}
    if_match = event.get("if_match")
    if if_match is not None and not isinstance(if_match, str):
        raise errors.InvalidSchedulerUpdate('Field "if_match" must be an ETag string such as "\\"3\\"".')
    if not fields:
        for control in ("if_match", "reason"):
            if event.get(control) is not None:
                raise errors.InvalidSchedulerUpdate(f'Field "{control}" only applies to an update: add "is_paused".')
        return _answer(store.read_state())
    update = rules.parse_update(fields)  # the very rules the HTTP edge applies
    preconditions = validators.parse_preconditions(if_match=if_match)
    state = store.write_pause(update.is_paused, write, preconditions)
    record_pause_change(state)
    return _answer(state)


def _token(event: dict[str, Any], caller: str, request_id: str) -> str:
    key = event.get("idempotency_key")
    if key is None:
        return f"request:{request_id}"
    if not isinstance(key, str) or not 0 < len(key) <= rules.MAX_IDEMPOTENCY_KEY_LENGTH:
        raise errors.InvalidSchedulerUpdate(
            f'Field "idempotency_key" must be a string of 1 to {rules.MAX_IDEMPOTENCY_KEY_LENGTH} characters.'
        )
    return f"direct:{caller}:{key}"


def _window(action: Any, event: dict[str, Any], caller: str, write: store.WriteRequest) -> dict[str, Any]:
    allowed = {"action", "caller", "idempotency_key", "reason", *(("wait_seconds",) if action == "open_window" else ())}
    unexpected = sorted(name for name in event if name not in allowed)
    if action not in WINDOW_ACTIONS or unexpected:
        raise errors.InvalidMaintenanceWindow(
            f'"action" must be one of {", ".join(WINDOW_ACTIONS)}'
            + (f"; unexpected fields: {', '.join(unexpected)}." if unexpected else ".")
        )
    if caller == DEFAULT_CALLER:
        raise errors.InvalidMaintenanceWindow('A maintenance window needs "caller": the execution that holds it.')
    if action == "open_window":
        wait_seconds = windows.parse_wait_seconds(event.get("wait_seconds"), max_window_seconds())
        result = windows.open_window(caller, wait_seconds=wait_seconds, write=write)
    else:
        result = windows.close_window(caller, write=write)
    if result.state.recent_write(write.token) is not None:  # this step wrote (now, or before its answer was lost)
        record_pause_change(result.state)
    logger.info("Maintenance window step", extra={"action": action, "window": caller, "outcome": result.outcome})
    answer = {**_answer(result.state), "outcome": result.outcome}
    if action == "open_window":
        answer["holds_lease"] = result.lease_expires_at is not None
        answer["lease_expires_at"] = result.lease_expires_at
    return answer


def _heartbeat(event: dict[str, Any]) -> dict[str, Any]:
    """The schedule's read (template.yaml: SchedulerHeartbeat), so the alarms on the switch fire without any
    traffic: the state and its age as metrics; a missing entry as the SchedulerEntryMissing metric (answered,
    not raised: the alarm on it pages, a function error would page twice). An entry that cannot be read
    raises, and the missing heartbeat metric is what pages then."""
    unexpected = sorted(name for name in event if name not in ("action", "caller"))
    if unexpected:
        raise errors.InvalidSchedulerUpdate(f"A heartbeat takes no other field; unexpected: {', '.join(unexpected)}.")
    try:
        state = store.read_state()
    except errors.SchedulerEntryMissing:
        record_entry_missing("heartbeat")
        return {"outcome": "entry_missing"}
    paused_seconds = rules.paused_seconds(state.is_paused, state.updated_at, store.clock())
    pipe_running = pipe_state.change_event_pipe_running()
    record_heartbeat(state.is_paused, paused_seconds, pipe_running)
    answer = {**_answer(state), "outcome": "read", "paused_seconds": paused_seconds}
    if pipe_running is not None:
        answer["change_event_pipe_running"] = pipe_running
    return answer


def max_window_seconds() -> int:
    return int(os.environ.get("MAX_WINDOW_SECONDS", DEFAULT_MAX_WINDOW_SECONDS))


def _answer(state: store.Entry) -> dict[str, Any]:
    return {"is_paused": state.is_paused, "etag": state.etag}
