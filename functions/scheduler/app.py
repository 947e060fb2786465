"""Lambda entry point of the scheduler control service.

One function serves both edges: API Gateway REST proxy events go to ``http_edge``; anything else is a
direct invocation (Step Functions) and goes to ``direct_edge``. Both apply the same ``rules`` and
write through the same ``store``.
"""

from __future__ import annotations

from typing import Any

import direct_edge
import http_edge
from observability import logger

_invocations = {"count": 0}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    _tag_logs(event, context)
    if http_edge.is_proxy_event(event):
        return http_edge.handle(event)
    return direct_edge.handle(event)


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
