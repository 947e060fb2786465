"""The switch's history: its changes as the audit trail keeps them (docs/operations.md, The audit trail).

On AWS, the audit log group (the stack's ``PauseChangeAuditLogName`` output), read with the operator's own
credentials (``logs:FilterLogEvents`` on it); under ``make run``, the local stack's copy of the same records,
which it serves at ``/_local/changes`` (so they are found from any folder; ``.local/dynamodb/changes.jsonl`` in
its data folder). Records that cannot be read are an error that says where it looked, never "no change". Each
record is the EventBridge event the pipe made of one flip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import urlopen

from scheduler_client.errors import SchedulerError
from scheduler_client.state import format_time, parse_iso_time
from scheduler_contract.actors import via_of

LOCAL_RECORDS_PATH = "/_local/changes"  # where the local stack serves its records (local_stack/gateway.py)
MAX_PAGES = 100  # 10,000 events at most: far beyond any real month of flips, and a bound on the loop
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w``, ``90s``: how far back; ValueError for anything else."""
    match = _DURATION.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 24h or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class Change:
    """One flip: when, who, from what to what, why, through what."""

    time: datetime
    is_paused: bool
    previous_is_paused: bool | None
    version: int | None
    updated_by: str | None
    reason: str | None
    stage: str | None

    @property
    def via(self) -> str:
        return via_of(self.updated_by)

    def describe(self) -> str:
        def word(paused: bool | None) -> str:
            return "?" if paused is None else ("paused" if paused else "resumed")

        why = f'"{self.reason}"' if self.reason else "(no reason given)"
        return (
            f"{format_time(self.time)}  {word(self.previous_is_paused)} -> {word(self.is_paused)}  "
            f"by {self.updated_by or 'unknown'} via {self.via}  {why}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "is_paused": self.is_paused,
            "previous_is_paused": self.previous_is_paused,
            "version": self.version,
            "updated_by": self.updated_by,
            "via": self.via,
            "reason": self.reason,
            "stage": self.stage,
        }

    @classmethod
    def from_event(cls, message: str) -> Change | None:
        """The change one audit record holds; None for a record of another shape."""
        try:
            event = json.loads(message)
            detail = event["detail"]
            is_paused = detail["is_paused"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(is_paused, bool):
            return None
        # The change's own time; else when EventBridge took it (fromisoformat reads its "Z" from Python 3.11).
        moment = _time_of(detail.get("updated_at")) or _time_of(event.get("time"))
        if moment is None:
            return None
        previous = detail.get("previous_is_paused")
        version = detail.get("version")
        return cls(
            time=moment,
            is_paused=is_paused,
            previous_is_paused=previous if isinstance(previous, bool) else None,
            version=version if isinstance(version, int) else None,
            updated_by=str(detail["updated_by"]) if detail.get("updated_by") else None,
            reason=str(detail["reason"]) if detail.get("reason") else None,
            stage=str(detail["stage"]) if detail.get("stage") else None,
        )


def _time_of(value: Any) -> datetime | None:
    return parse_iso_time(value) if isinstance(value, str) else None


def _changes(messages: Iterable[str], since: datetime) -> list[Change]:
    found = (Change.from_event(message) for message in messages)
    return sorted((change for change in found if change is not None and change.time >= since), key=lambda c: c.time)


class RecordsUnreadable(SchedulerError):
    """The local records could not be read: never taken for "no change"."""


def local_changes(path: Path, since: datetime) -> list[Change]:
    """A file of the local stack's records (``--local-changes``), oldest first."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RecordsUnreadable(f"cannot read the local records at {path.resolve()}: {_reason(error)}") from None
    return _changes(lines, since)


def local_stack_changes(api_url: str, since: datetime, timeout: float = 5.0) -> list[Change]:
    """The records of the local stack that serves ``api_url``, read from it (whatever the current folder),
    oldest first."""
    url = urljoin(api_url, LOCAL_RECORDS_PATH)
    if urlsplit(url).scheme not in ("http", "https"):
        raise RecordsUnreadable(f"cannot read the local stack's records at {url}: not an http(s) URL")
    try:
        with urlopen(url, timeout=timeout) as answer:  # noqa: S310  # nosec B310 - http(s) only, checked above
            body: bytes = answer.read()
    except (OSError, ValueError) as error:
        raise RecordsUnreadable(f"cannot read the local stack's records at {url}: {_reason(error)}") from None
    try:
        return _changes(body.decode("utf-8").splitlines(), since)
    except UnicodeDecodeError as error:
        raise RecordsUnreadable(f"the local stack's records at {url} are not text: {error}") from None


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return str(reason)


def audit_log_changes(logs: Any, log_group: str, since: datetime, until: datetime | None = None) -> list[Change]:
    """The audit log group's records since then, oldest first (``logs`` is a botocore CloudWatch Logs client)."""
    end = until or datetime.now(UTC)
    return _changes(_messages(logs, log_group, since, end), since)


def _messages(logs: Any, log_group: str, since: datetime, end: datetime) -> Iterator[str]:
    arguments: dict[str, Any] = {
        "logGroupName": log_group,
        "startTime": int(since.timestamp() * 1000),
        "endTime": int(end.timestamp() * 1000),
    }
    for _ in range(MAX_PAGES):
        page = logs.filter_log_events(**arguments)
        for event in page.get("events", []):
            yield str(event.get("message", ""))
        token = page.get("nextToken")
        if not token:
            return
        arguments["nextToken"] = token


def since_moment(since: timedelta, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - since
