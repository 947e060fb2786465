"""The push heartbeat: every minute, the retained message is compared with the entry and repaired if behind.

A publish lost for good (the stream record expired, the failure destination holds it) would leave every new
node on an old value. So a schedule (template.yaml: PushRepairSchedule) invokes this edge every minute: one
strongly consistent read of the entry, one read of the retained message, and when the message is missing or
older than the entry, the entry is published. Then the entry is read again: a write that committed meanwhile
may have been published before this repair's message replaced it, so the newer state is published once more
(bounded: at most two publishes per run). A retained message *newer* than the entry read is a write that
landed between the two reads, and is left alone.

It reports PushStateBehind (1 when the message was behind at the check, else 0): the alarm fires when two runs
in a row find it behind, that is when a repair did not heal it.
"""

from __future__ import annotations

from typing import Any

from scheduler_contract.tags import supersedes
from scheduler_service import errors, push_topic, store
from scheduler_service.observability import logger, record_push_check


def handler(event: Any, context: Any) -> dict[str, Any]:
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    try:
        entry = store.read_state()
    except errors.SchedulerEntryMissing:
        # Nothing to repair towards: the entry-missing alarm pages, and the retained message keeps the last
        # value the fleet knew (nodes fail static; a restored entry is published when it is written).
        logger.warning("No scheduler entry: the retained message is left as it is")
        return {"outcome": "entry_missing"}
    held = push_topic.retained()
    if not is_behind(held, entry):
        record_push_check(behind=False)
        return {"outcome": "current", "etag": entry.etag}
    logger.warning(
        "The retained message is behind the entry: publishing the entry",
        extra={"retained": str(held.tag) if held and held.tag else None, "etag": entry.etag},
    )
    record_push_check(behind=True)
    push_topic.publish(entry)
    latest = store.read_state()
    if latest.tag != entry.tag:
        push_topic.publish(latest)
    return {"outcome": "repaired", "etag": latest.etag}


def is_behind(held: push_topic.Retained | None, entry: store.Entry) -> bool:
    """True when the retained message is missing, unreadable, or older than the entry."""
    if held is None or held.tag is None:
        return True
    return supersedes(entry.tag, held.tag)
