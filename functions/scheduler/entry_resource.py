"""CloudFormation custom resource that creates the one scheduler entry when the stack is deployed.

Create (and Update) make the entry, not paused, only if it does not exist: a deploy never overwrites the
switch. Delete keeps the data (the table itself is retained too). Every request gets an answer,
SUCCESS or FAILED with a reason, so a stack never waits an hour for a silent function.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import store
from observability import logger

ACTOR = "cloudformation"


def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    request_type = event.get("RequestType")
    physical_id = event.get("PhysicalResourceId") or f"{event.get('StackId', 'stack')}/scheduler-entry"
    try:
        if request_type in ("Create", "Update"):
            created = store.create_if_missing(actor=ACTOR)
            logger.info("Scheduler entry ensured", extra={"request_type": request_type, "entry_created": created})
        elif request_type == "Delete":
            logger.info("Stack delete: the scheduler entry is kept")
        else:
            raise ValueError(f"unknown RequestType {request_type!r}")
    except Exception as error:
        logger.exception("Custom resource failed", extra={"request_type": request_type})
        reason = f"{type(error).__name__}: {error}"[:500]
        log_stream = getattr(context, "log_stream_name", None)
        if log_stream:
            reason += f" (log stream {log_stream})"
        send_response(event, "FAILED", physical_id, reason)
        return
    send_response(event, "SUCCESS", physical_id)


def send_response(event: dict[str, Any], status: str, physical_id: str, reason: str = "") -> None:
    """PUT the result to the pre-signed URL CloudFormation gave. A failure here is logged, not raised:
    raising would only make Lambda retry a request CloudFormation may already have recorded."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or status,
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": {},
        }
    ).encode("utf-8")
    url = str(event.get("ResponseURL", ""))
    if not url.startswith(("https://", "http://")):
        logger.error("No usable ResponseURL in the event", extra={"response_url": url})
        return
    request = urllib.request.Request(  # noqa: S310
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    try:
        # The scheme is checked above: only the http(s) URL CloudFormation gave is opened.
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310
            logger.info("Answered CloudFormation", extra={"status": status, "http_status": answer.status})
    except Exception:
        logger.exception("Could not answer CloudFormation")
