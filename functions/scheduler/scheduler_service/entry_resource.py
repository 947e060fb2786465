"""CloudFormation custom resource that creates the one scheduler entry when the stack is deployed.

Create (and Update) make the entry only if it does not exist: a deploy never overwrites the switch. A first
create makes it not paused. When the table changes under the stack (a replacement: Update with another
``TableName``; or a re-created stack given ``CarryOverFromTable``), the switch is carried over from the old
table, its value kept and its version continued; when the old table cannot be read, the entry is created
PAUSED (fail closed: a paused fleet must never resume because its table was replaced) and the reason says so.
Delete keeps the data (the table itself is retained too). Every request gets an answer, SUCCESS or FAILED
with a reason, so a stack never waits an hour for a silent function.

The same function answers ``Custom::PushEndpoint``: the account's AWS IoT Core data endpoint (ATS), which no
CloudFormation resource has as an attribute (``iot:DescribeEndpoint``), as the attribute ``Address``.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from scheduler_service import aws, store
from scheduler_service.observability import logger

ACTOR = "cloudformation"
PUSH_ENDPOINT_TYPE = "Custom::PushEndpoint"


def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    request_type = event.get("RequestType")
    push_endpoint = event.get("ResourceType") == PUSH_ENDPOINT_TYPE
    default_id = f"{event.get('StackId', 'stack')}/{'push-endpoint' if push_endpoint else 'scheduler-entry'}"
    physical_id = event.get("PhysicalResourceId") or default_id
    data: dict[str, str] = {}
    try:
        if push_endpoint and request_type in ("Create", "Update"):
            data["Address"] = iot_data_endpoint()
            reason = f"IoT Core data endpoint {data['Address']}."
        elif push_endpoint and request_type == "Delete":
            reason = "Nothing to delete: the endpoint is the account's."
        elif request_type in ("Create", "Update"):
            reason = ensure_entry(event)
        elif request_type == "Delete":
            logger.info("Stack delete: the scheduler entry is kept")
            reason = "The scheduler entry and its table are kept."
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
    send_response(event, "SUCCESS", physical_id, reason, data)


def iot_data_endpoint() -> str:
    """The account's IoT Core data endpoint in this region (``<prefix>-ats.iot.<region>.amazonaws.com``)."""
    client = aws.botocore_session().create_client("iot")
    return str(client.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"])


def ensure_entry(event: dict[str, Any]) -> str:
    """Make sure the table the stack now names holds the entry; return what was done, for the reason."""
    properties = event.get("ResourceProperties") or {}
    table = str(properties.get("TableName") or store.table_name())
    if event.get("RequestType") == "Update":
        old_table = (event.get("OldResourceProperties") or {}).get("TableName")
    else:
        old_table = properties.get("CarryOverFromTable")
    # CloudFormation's request id: the same when it (or botocore) sends this request again.
    token = f"cloudformation:{event.get('RequestId')}"
    if old_table and old_table != table:
        return carry_over(str(old_table), table, token)
    if event.get("RequestType") == "Update":
        # The stack's own table has lost its entry (deleted by hand, or a restore without it): the fleet is
        # failing closed now, and must stay paused until someone knows the switch's last state.
        created = store.create_if_missing(actor=f"{ACTOR}:fail-closed", token=token, is_paused=True, table=table)
        logger.info("Scheduler entry ensured on update", extra={"table": table, "entry_created": created})
        if not created:
            return "Scheduler entry kept as it was."
        return (
            "Scheduler entry was missing and is created PAUSED. Find its last state in the audit log, "
            "then resume it by hand."
        )
    created = store.create_if_missing(actor=ACTOR, token=token, table=table)
    logger.info("Scheduler entry ensured", extra={"table": table, "entry_created": created})
    return "Scheduler entry created, not paused." if created else "Scheduler entry kept as it was."


def carry_over(old_table: str, table: str, token: str) -> str:
    """Copy the switch from the table this stack used before; fail closed when it cannot be read."""
    try:
        old = store.read_state(old_table)
    except Exception as error:
        logger.warning(
            "The old table's entry could not be read: creating the entry PAUSED",
            extra={"old_table": old_table, "table": table, "error": type(error).__name__},
        )
        created = store.create_if_missing(actor=f"{ACTOR}:fail-closed", token=token, is_paused=True, table=table)
        if not created:
            return "Scheduler entry kept as it was."
        return (
            f"Scheduler entry created PAUSED: the entry of the previous table {old_table} could not be read "
            f"({type(error).__name__}). Check the fleet, then resume it by hand."
        )
    created = store.create_if_missing(
        actor=f"{ACTOR}:carried-over-from:{old_table}",
        token=token,
        is_paused=old.is_paused,
        version=old.version + 1,
        incarnation=old.incarnation,  # the same entry, continued: its tags stay newer than any the old table served
        table=table,
    )
    logger.info(
        "Scheduler entry carried over",
        extra={"old_table": old_table, "table": table, "is_paused": old.is_paused, "entry_created": created},
    )
    if not created:
        return "Scheduler entry kept as it was."
    state = "paused" if old.is_paused else "not paused"
    return f"Scheduler entry carried over from {old_table}: {state}, version {old.version + 1}."


def send_response(
    event: dict[str, Any], status: str, physical_id: str, reason: str, data: dict[str, str] | None = None
) -> None:
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
            "Data": data or {},
        }
    ).encode("utf-8")
    url = str(event.get("ResponseURL", ""))
    if not url.startswith(("https://", "http://")):
        logger.error("No usable ResponseURL in the event", extra={"response_url": url})
        return
    # An empty Content-Type: the pre-signed URL is signed without one (urllib would add a form type).
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    try:
        # The scheme is checked above: only the http(s) URL CloudFormation gave is opened.
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310
            logger.info("Answered CloudFormation", extra={"status": status, "http_status": answer.status})
    except Exception:
        logger.exception("Could not answer CloudFormation")
