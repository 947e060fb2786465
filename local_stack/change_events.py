"""The change events and the audit trail, locally: what the pipe (template.yaml: PauseChangeEvents) makes of a
stream record, and the audit log the audit rule writes, as a file of JSON lines in the data folder.

A record passes the pipe's own filter (read from template.yaml, matched with moto's EventBridge pattern engine,
the one the tests use), is shaped by the pipe's own input template (local_stack/pipes_template.py), and is
wrapped as EventBridge delivers an event to a CloudWatch Logs target: so `scheduler history` reads the same
records under `make run` as from the audit log on AWS.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from local_stack.pipes_template import render
from local_stack.template import load_template

FILE_NAME = "changes.jsonl"
SOURCE = "scheduler-control"
DETAIL_TYPE = "Scheduler pause changed"


def _pipe() -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"]["PauseChangeEvents"]["Properties"]
    return properties


def passes_the_filter(record: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern  # noqa: PLC0415 - moto's pattern engine, only when a change is recorded

    filters = _pipe()["SourceParameters"]["FilterCriteria"]["Filters"]
    return any(EventPattern.load(entry["Pattern"]).matches_event(cast(Any, record)) for entry in filters)


def detail_of(record: dict[str, Any], stage: str) -> Any:
    """The event's detail: the pipe's input template applied to the record."""
    template: str = _pipe()["TargetParameters"]["InputTemplate"]["Fn::Sub"].replace("${Stage}", stage)
    return json.loads(render(template, record))


def event_of(record: dict[str, Any], stage: str, *, region: str = "us-east-1") -> dict[str, Any]:
    """The whole event, as EventBridge writes it to the audit log group."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail_of(record, stage),
    }


class ChangeLog:
    """The local audit log: one event a line in ``<data dir>/changes.jsonl``, kept across runs."""

    def __init__(self, data_dir: Path, stage: str = "local") -> None:
        self.path = data_dir / FILE_NAME
        self.stage = stage
        self._lock = threading.Lock()

    def record(self, record: dict[str, Any]) -> bool:
        """Append the record's event if it is one (a flip); True when it was."""
        # As the pipe receives it: JSON, the SDK's datetimes as strings.
        record = json.loads(json.dumps(record, default=str))
        if not passes_the_filter(record):
            return False
        line = json.dumps(event_of(record, self.stage), separators=(",", ":"))
        with self._lock, self.path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
        return True
