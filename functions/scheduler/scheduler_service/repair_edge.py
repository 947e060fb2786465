"""The push heartbeat: every minute, the retained message is compared with the entry and brought back to it.

The entry is the truth (``scheduler_contract.convergence``, docs/protocol.md, Convergence). One strongly
consistent read of the entry, one read of the retained message, and then:

- the same state: nothing to do;
- missing, unreadable, from the future or older than the entry: the entry is published. Then the entry is read
  again: a write that committed meanwhile may have been published before this repair's message replaced it, so the
  newer state is published once more (bounded: at most two publishes per run);
- newer than the entry: the entry is read again. A write that landed between the two reads is what the message
  says, and all is well. Otherwise the entry is older than what was published: a point-in-time restore, AWS
  Backup, a hand repair or a forged message. Nodes that took the newer message would keep it, so the entry is
  healed: given a new incarnation in one write conditional on it not having changed, and published; a new
  incarnation supersedes whatever any node holds. A heal is logged at ERROR and counted (EntryHealed), and pages
  (EntryHealedAlarm): someone restored or forged the switch.

It reports PushStateBehind (1 when the message was not the entry's at the check, else 0): the alarm fires when
two runs in a row find it behind, that is when a repair did not heal it.
"""

from __future__ import annotations

from typing import Any

from scheduler_contract.convergence import Action, repair_action
from scheduler_contract.tags import Tag
from scheduler_service import errors, push_topic, store
from scheduler_service.observability import logger, record_heal, record_push_check


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
    retained = held.tag if held is not None else None
    action = repair_action(entry.tag, retained, _now_ms())
    if action is Action.READ_AGAIN:
        latest = store.read_state()
        action = repair_action(entry.tag, retained, _now_ms(), latest.tag)
        entry = latest
    if action is Action.NONE:
        record_push_check(behind=False)
        return {"outcome": "current", "etag": entry.etag}
    record_push_check(behind=True)
    if action is Action.HEAL:
        return _heal(entry, retained)
    if held is None:  # a new topic (the first start, a new stack): nothing went wrong
        logger.info("No retained message yet: publishing the entry", extra={"etag": entry.etag})
    else:
        logger.warning(
            "The retained message is behind the entry: publishing the entry",
            extra={"retained": str(retained) if retained else None, "etag": entry.etag},
        )
    push_topic.publish(entry)
    latest = store.read_state()
    if latest.tag != entry.tag:
        push_topic.publish(latest)
    return {"outcome": "repaired", "etag": latest.etag}


def _heal(entry: store.Entry, retained: Tag | None) -> dict[str, Any]:
    """The entry is older than the retained message: a new incarnation (later than the message's), published."""
    try:
        healed = store.reincarnate(entry, after=retained)
    except errors.SchedulerPreconditionFailed:
        # A write came in meanwhile: its own message supersedes the retained one, and the next run checks again.
        logger.warning("The entry changed while it was healed: the next run looks again", extra={"etag": entry.etag})
        return {"outcome": "changed_meanwhile", "etag": entry.etag}
    record_heal(entry, healed, retained)
    push_topic.publish(healed)
    return {"outcome": "healed", "etag": healed.etag, "was": entry.etag, "retained": str(retained)}


def _now_ms() -> int:
    return int(store.clock().timestamp() * 1000)
