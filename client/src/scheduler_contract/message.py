"""The push message: the retained message of the push topic, the fleet's copy of the switch (docs/protocol.md).

The message is public to every node, so it carries the state and its entity tag, never who wrote it::

    {"is_paused":true,"etag":"\\"8.p.mk3x0a9z7q2c\\"","version":8,"updated_at":"2026-12-01T08:00:00.000+00:00"}

docs/protocol/push-message.schema.json is its JSON Schema; ``decode_message`` accepts exactly what the schema
does and what is consistent (the tag's value and version are the message's), and nothing that it cannot read
whole: a payload too large, too deep, not UTF-8, with a key twice, or of another shape says nothing (None).
Fields may be added later: a reader ignores the ones it does not know.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from scheduler_contract import strict_json
from scheduler_contract.tags import Tag, parse_etag

# The message is about 120 bytes; room for fields added later, and a bound on what a reader parses.
MAX_MESSAGE_BYTES = 4096
# RFC 3339 in UTC to the millisecond, the one form a publisher writes (``+00:00``, never ``Z``).
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\+00:00")


class PushMessage(NamedTuple):
    """What a push message says: the state's tag (its value and version) and when it was written (None when
    the entry does not say)."""

    tag: Tag
    updated_at: datetime | None

    @property
    def is_paused(self) -> bool:
        return self.tag.is_paused

    @property
    def etag(self) -> str:
        return str(self.tag)

    @property
    def version(self) -> int:
        return self.tag.version


def format_time(moment: datetime) -> str:
    """A time as the message carries it: ``2026-12-01T08:00:00.000+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def encode_message(tag: Tag, updated_at: datetime | None) -> bytes:
    """The message for the state ``tag`` names, written at ``updated_at``: compact JSON, UTF-8."""
    document = {
        "is_paused": tag.is_paused,
        "etag": str(tag),
        "version": tag.version,
        "updated_at": format_time(updated_at) if updated_at is not None else None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_message(payload: bytes) -> PushMessage | None:
    """What a message says; None for a payload that is not a whole, consistent message of this contract."""
    if len(payload) > MAX_MESSAGE_BYTES:
        return None
    try:
        document = strict_json.loads(payload.decode("utf-8"))
        return _message_of(document)
    except Exception:
        return None


def _message_of(document: Any) -> PushMessage | None:
    if not isinstance(document, dict):
        return None
    is_paused, etag, version = document.get("is_paused"), document.get("etag"), document.get("version")
    if not isinstance(is_paused, bool) or not isinstance(etag, str) or "updated_at" not in document:
        return None
    tag = parse_etag(etag)
    if tag is None or tag.is_paused is not is_paused:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version != tag.version:
        return None
    updated_at = document["updated_at"]
    if updated_at is None:
        return PushMessage(tag, None)
    if not isinstance(updated_at, str) or not _TIME.fullmatch(updated_at):
        return None
    return PushMessage(tag, datetime.fromisoformat(updated_at))  # a date no calendar holds raises: None
