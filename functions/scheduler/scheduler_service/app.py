"""Lambda entry point of the scheduler control service.

One function serves both edges: API Gateway REST proxy events go to ``http_edge``; anything else is a
direct invocation (Step Functions) and goes to ``direct_edge``. Both apply the same ``rules`` and
write through the same ``store``.

An event shaped like API Gateway's is believed only when it can have come from API Gateway: the function was
invoked through its live alias (``LIVE_ALIAS``), which only API Gateway, this stack's state machines and its
heartbeat schedule may invoke (and only API Gateway can shape such an event: the others send fixed inputs of
their own), or it runs under SAM's local tools (``AWS_SAM_LOCAL``). Anyone else could write any identity into
``requestContext``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from scheduler_service import errors, http_edge
from scheduler_service.observability import logger

_invocations = {"count": 0}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    _tag_logs(event, context)
    request_id = getattr(context, "aws_request_id", None) or _new_request_id()
    if http_edge.is_proxy_event(event):
        if not from_api_gateway(context):
            logger.warning("An API Gateway event not invoked through the live alias: refused")
            raise errors.InvalidSchedulerUpdate(
                "An API Gateway event is accepted only through the function's live alias. "
                'Direct callers send {"is_paused": true} or {"is_paused": false}.'
            )
        return http_edge.handle(event, request_id)
    from scheduler_service import direct_edge  # noqa: PLC0415 - the direct callers' edge: off the API's cold start

    return direct_edge.handle(event, request_id)


def _new_request_id() -> str:
    """For runners whose context has no request id: each invocation still gets its own write token."""
    return str(uuid.uuid4())


def from_api_gateway(context: Any) -> bool:
    """True when this invocation came through the live alias, which no caller outside this stack may invoke
    (or SAM's local tools, which set AWS_SAM_LOCAL=true)."""
    if os.environ.get("AWS_SAM_LOCAL") == "true":
        return True
    alias = os.environ.get("LIVE_ALIAS")
    arn = getattr(context, "invoked_function_arn", None)
    # arn:aws:lambda:region:account:function:name:qualifier; an unqualified ARN has no eighth part.
    parts = arn.split(":") if isinstance(arn, str) else []
    return bool(alias) and len(parts) == 8 and parts[7] == alias


def _tag_logs(event: Any, context: Any) -> None:
    """Every log line of this invocation names it: Lambda's request id, and a correlation id that is the
    API Gateway request id or the calling execution. Read defensively: local runners pass thin contexts."""
    correlation_id = None
    if isinstance(event, dict):
        request_context = event.get("requestContext")
        correlation_id = event.get("caller")
        if isinstance(request_context, dict):
            correlation_id = request_context.get("requestId")
    logger.clear_state()
    logger.append_keys(
        function_request_id=getattr(context, "aws_request_id", None),
        cold_start=_invocations["count"] == 0,
        correlation_id=correlation_id if isinstance(correlation_id, str) else None,
    )
    _invocations["count"] += 1
