"""The stream edge: the table's change records, as the event source mapping delivers them, to the fleet's topic.

The record is what committed, not an answer the API gave, so a write that landed is pushed whatever happened to
the function that made it. The mapping (template.yaml: PushPublisherFunction) reads the one shard one record at
a time and in order, and only inserts and modifications. A record whose image holds no readable switch (an
entry broken by hand) is logged and skipped: publishing it again would not make it readable, and the last good
message stays retained. A failed publish raises, so the mapping retries the record (a bounded number of times,
then the failure destination, which alarms).
"""

from __future__ import annotations

from typing import Any

from scheduler_service import push_topic, store
from scheduler_service.observability import logger


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    published = 0
    for record in event.get("Records") or []:
        entry = entry_of(record)
        if entry is not None:
            push_topic.publish(entry)
            published += 1
    return {"published": published}


def entry_of(record: dict[str, Any]) -> store.Entry | None:
    """The entry a change record's new image holds; None for a removal or an image without a readable switch."""
    change = record.get("dynamodb") or {}
    image = change.get("NewImage")
    if record.get("eventName") not in ("INSERT", "MODIFY") or not isinstance(image, dict):
        return None
    try:
        return store.entry_from_item(image)
    except store.CorruptSchedulerEntry as error:
        logger.error(
            "A change record holds no readable switch: not published",
            extra={"sequence_number": change.get("SequenceNumber"), "error": str(error)},
        )
        return None
