"""The stream edge: the table's change records, as the event source mapping delivers them, to the fleet's topic.

The record is what committed, not an answer the API gave, so a write that landed is pushed whatever happened to
the function that made it. The mapping (template.yaml: PushPublisherFunction) reads the one shard one record at
a time and in order, and only inserts and modifications. A record whose image holds no readable switch (an
entry broken by hand) is logged and skipped: publishing it again would not make it readable, and the last good
message stays retained. A failed publish raises, so the mapping retries the record (a bounded number of times,
then the failure destination, which alarms).

A change that goes back in time (its old image's state supersedes its new one's: a hand repair or a restore
written over the live item, byte for byte) would publish an older state that nodes holding the newer one ignore,
and the repair would then find the topic "current". So the entry is healed at once instead: given a new
incarnation (docs/protocol.md, Convergence), in a write conditional on it being still what the record says, and
that state is published; a write that came in meanwhile is published by its own record.
"""

from __future__ import annotations

from typing import Any

from scheduler_contract.tags import supersedes
from scheduler_service import errors, push_topic, store
from scheduler_service.observability import logger, record_heal


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    logger.append_keys(function_request_id=getattr(context, "aws_request_id", None))
    published = 0
    for record in event.get("Records") or []:
        entry = entry_of(record)
        if entry is None:
            continue
        before = old_entry_of(record)
        if before is not None and supersedes(before.tag, entry.tag):
            entry = _healed(entry, before)
            if entry is None:
                continue
        push_topic.publish(entry)
        published += 1
    return {"published": published}


def _healed(entry: store.Entry, before: store.Entry) -> store.Entry | None:
    """The entry went back in time: a new incarnation for it; None when another write came in meanwhile."""
    try:
        healed = store.reincarnate(entry, after=before.tag)
    except (errors.SchedulerPreconditionFailed, errors.SchedulerEntryMissing):
        logger.warning("The entry changed after a change that went back in time: its own record is published")
        return None
    record_heal(entry, healed, before.tag)
    return healed


def old_entry_of(record: dict[str, Any]) -> store.Entry | None:
    """The entry a modification's old image held; None when there is none or it cannot be read."""
    image = (record.get("dynamodb") or {}).get("OldImage")
    if record.get("eventName") != "MODIFY" or not isinstance(image, dict):
        return None
    try:
        return store.entry_from_item(image)
    except store.CorruptSchedulerEntry:
        return None


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
