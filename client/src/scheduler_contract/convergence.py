"""The entry is the truth: how the fleet's copy (the retained push message) is brought back to it, whatever
happened to the topic (docs/protocol.md, Convergence; the vectors in docs/protocol/convergence-vectors.json).

The repair compares the retained message with the entry, strongly read:

- the same tag: **current**;
- missing, unreadable, from the future, or older than the entry: **behind**, so the entry is published;
- newer than the entry: either a write landed between the two reads, or the entry is older than what was
  published (a point-in-time restore, AWS Backup, a hand repair, a forged message). The entry is read again:
  if it now is the retained state, all is well; if it is newer still, it is published; if the retained message is
  still ahead of it, the entry is **healed**: given a new incarnation, in one write conditional on it not having
  changed, and published. A new incarnation supersedes every state of the entries before it, so every node
  converges to the entry, whatever it held.

A tag is "from the future" when its incarnation's creation time (its first 8 base-36 digits, in milliseconds) is
more than a day ahead of the reader's clock: no entry can have been made then, so such a tag is forged or
corrupt, and a node never applies it from push.
"""

from __future__ import annotations

from enum import StrEnum

from scheduler_contract.tags import Tag, supersedes

MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000  # a node's clock may be this far behind the service's
INCARNATION_TIME_DIGITS = 8


class Verdict(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"


class Action(StrEnum):
    NONE = "none"  # the retained message is the entry's state
    PUBLISH = "publish"  # publish the entry as read last
    READ_AGAIN = "read again"  # the message is ahead of the entry read: read the entry again first
    HEAL = "heal"  # the entry is older than what was published: a new incarnation, then publish


def incarnation_millis(incarnation: str) -> int:
    """When an incarnation says its entry was made, in milliseconds since the epoch."""
    return int(incarnation[:INCARNATION_TIME_DIGITS], 36)


def from_the_future(tag: Tag, now_ms: int) -> bool:
    """True when the tag's incarnation claims a creation time no entry can have (more than a day ahead)."""
    return tag.incarnation is not None and incarnation_millis(tag.incarnation) > now_ms + MAX_CLOCK_SKEW_MS


def retained_verdict(entry: Tag, retained: Tag | None, now_ms: int) -> Verdict:
    """The retained message (None: missing or unreadable) against the entry read."""
    if retained is None or from_the_future(retained, now_ms):
        return Verdict.BEHIND
    if retained == entry:
        return Verdict.CURRENT
    return Verdict.AHEAD if supersedes(retained, entry) else Verdict.BEHIND


def repair_action(entry: Tag, retained: Tag | None, now_ms: int, entry_again: Tag | None = None) -> Action:
    """What the repair does: with the entry read once, and (for a message ahead of it) read again."""
    verdict = retained_verdict(entry, retained, now_ms)
    if verdict is Verdict.CURRENT:
        return Action.NONE
    if verdict is Verdict.BEHIND:
        return Action.PUBLISH
    if entry_again is None:
        return Action.READ_AGAIN
    again = retained_verdict(entry_again, retained, now_ms)
    if again is Verdict.CURRENT:
        return Action.NONE  # a write landed between the two reads, and its message is the one retained
    return Action.HEAL if again is Verdict.AHEAD else Action.PUBLISH
