"""The scheduler's state as the service answers it: the value, its entity tag and when it was written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scheduler_contract import tags
from scheduler_contract.tags import Tag, opaque_of, parse_opaque


@dataclass(frozen=True)
class SchedulerState:
    """``is_paused`` with the ``etag`` that names its version (for If-Match / If-None-Match) and
    ``last_modified``, the time of the write that set it (None when the service did not say)."""

    is_paused: bool
    etag: str | None
    last_modified: datetime | None

    @property
    def version(self) -> int | None:
        """The version the ETag names (``"7.p.mk3x0a9z7q2c"`` is 7); None for a tag of another form."""
        return version_of(self.etag)

    def describe(self) -> str:
        """One line for people: ``paused (version 7, since 2026-11-29 08:00:00 UTC)``."""
        details = [f"version {self.version}" if self.version is not None else f"etag {self.etag or 'none'}"]
        if self.last_modified is not None:
            details.append(f"since {format_time(self.last_modified)}")
        return f"{'paused' if self.is_paused else 'resumed'} ({', '.join(details)})"

    def to_json(self) -> dict[str, Any]:
        """What ``scheduler status --json`` prints."""
        return {
            "is_paused": self.is_paused,
            "etag": self.etag,
            "version": self.version,
            "last_modified": self.last_modified.isoformat() if self.last_modified is not None else None,
        }


@dataclass(frozen=True)
class Window:
    """A maintenance window whose lease holds the pause: its execution's name and ARN, and when it ends."""

    name: str
    execution: str
    until: datetime | None


@dataclass(frozen=True)
class StatusView:
    """``/scheduler/status``: the state, who made it, when, through what (``via``: api, state machine, deploy,
    ...) and why, the windows holding the pause, and the stage."""

    state: SchedulerState
    updated_at: datetime | None
    updated_by: str | None
    via: str
    reason: str | None
    windows: tuple[Window, ...]
    stage: str | None

    @classmethod
    def from_document(cls, state: SchedulerState, document: dict[str, Any]) -> StatusView:
        windows = tuple(
            Window(str(w.get("name")), str(w.get("execution")), parse_iso_time(str(w.get("until"))))
            for w in document.get("windows") or []
            if isinstance(w, dict)
        )
        updated_at = document.get("updated_at")
        return cls(
            state=state,
            updated_at=parse_iso_time(updated_at) if isinstance(updated_at, str) else None,
            updated_by=_text(document.get("updated_by")),
            via=_text(document.get("via")) or "unknown",
            reason=_text(document.get("reason")),
            windows=windows,
            stage=_text(document.get("stage")),
        )

    def describe(self) -> str:
        """Lines for people: the state, who, when and why, and the windows."""
        lines = [self.state.describe()]
        when = format_time(self.updated_at) if self.updated_at is not None else "an unknown time"
        lines.append(f"changed by {self.updated_by or 'unknown'} via {self.via}, at {when}")
        lines.append(f"reason: {self.reason}" if self.reason else "reason: none given")
        for window in self.windows:
            until = format_time(window.until) if window.until is not None else "?"
            lines.append(f"held by maintenance window {window.name} until {until}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.state.to_json(),
            "updated_at": self.updated_at.isoformat() if self.updated_at is not None else None,
            "updated_by": self.updated_by,
            "via": self.via,
            "reason": self.reason,
            "windows": [
                {"name": w.name, "execution": w.execution, "until": w.until.isoformat() if w.until else None}
                for w in self.windows
            ],
            "stage": self.stage,
        }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def opaque_tag(etag: str | None) -> str | None:
    """The quoted part of an entity tag, weak or strong (``W/"7.p"`` and ``"7.p"`` give ``7.p``)."""
    return opaque_of(etag)


def tag_of(etag: str | None) -> Tag | None:
    """What one of the service's tags names (the contract's grammar, weak or strong); None for any other."""
    opaque = opaque_of(etag)
    return parse_opaque(opaque) if opaque is not None else None


def supersedes(incoming: str | None, held: str | None) -> bool:
    """True when the state tagged ``incoming`` is newer than the one tagged ``held`` (the contract's order,
    docs/protocol.md). Where either tag is of another form (or missing), nothing is known of their order: any
    other tag is news."""
    new, old = tag_of(incoming), tag_of(held)
    if new is None or old is None:
        return incoming != held
    return tags.supersedes(new, old)


def version_of(etag: str | None) -> int | None:
    """The version of one of the service's tags (``"7.p.mk3x0a9z7q2c"`` is 7); None for a tag of another form."""
    tag = tag_of(etag)
    return tag.version if tag is not None else None


def flipped_tag(etag: str | None) -> str | None:
    """The tag of the same version and entry with the other value: well formed, so the service asks DynamoDB,
    and never current, so a write conditional on it is refused (how ``scheduler check`` proves the write path
    without writing). None for a tag of another form."""
    tag = tag_of(etag)
    return str(tag._replace(is_paused=not tag.is_paused)) if tag is not None else None


def same_version(first: str | None, second: str | None) -> bool:
    """Weak comparison of two entity tags (RFC 9110 section 8.8.3.2)."""
    return opaque_of(first) is not None and opaque_of(first) == opaque_of(second)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Last-Modified``, ``Retry-After``) as an aware UTC time; None if absent or malformed."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# The longest ISO 8601 time the service writes or a person could mean (with microseconds and an offset): 32.
MAX_ISO_TIME_LENGTH = 64


def parse_iso_time(value: str) -> datetime | None:
    """An ISO 8601 time (the status view's ``updated_at``, a window's end) as an aware UTC time; None if malformed,
    too long, or past the calendar once in UTC (``9999-12-31T23:59:59-23:59``): the node never trusts its input."""
    if len(value) > MAX_ISO_TIME_LENGTH:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
