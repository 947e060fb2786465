"""Every API Gateway sample in events/ (the ones `sam local invoke -e` takes) does what events/README.md says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS_DIR, stored_item, tag

# File name -> (status, body) as documented in events/README.md, written from the spec.
API_OUTCOMES: dict[str, tuple[int, dict[str, Any] | None]] = {
    "get.json": (200, {"is_paused": False}),
    "pause.json": (201, {"is_paused": True}),
    "resume.json": (201, {"is_paused": False}),
    "patch-rejected.json": (400, None),
}


def test_every_api_event_file_has_a_documented_outcome() -> None:
    api_files = {path.name for path in EVENTS_DIR.glob("*.json") if "httpMethod" in path.read_text()}

    assert api_files == set(API_OUTCOMES)
    readme = (EVENTS_DIR / "README.md").read_text()
    assert all(name in readme for name in api_files)


@pytest.mark.parametrize(("name", "outcome"), API_OUTCOMES.items(), ids=API_OUTCOMES.keys())
def test_api_event_file_gives_its_documented_outcome(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], name: str, outcome: tuple[int, Any]
) -> None:
    status, body = outcome

    response = invoke(json.loads(Path(EVENTS_DIR / name).read_text()))

    assert response["statusCode"] == status
    if body is not None:
        assert json.loads(response["body"]) == body
    else:
        assert response["headers"]["Content-Type"] == "text/plain"
        assert stored_item(dynamodb) == scheduler_entry


# File name -> the answer, or the name of the exception, as documented in events/README.md.
DIRECT_OUTCOMES: dict[str, dict[str, Any] | str] = {
    "direct/read.json": {"is_paused": False, "etag": tag(1, False)},
    "direct/heartbeat.json": {"is_paused": False, "etag": tag(1, False), "outcome": "read", "paused_seconds": 0.0},
    "direct/pause.json": {"is_paused": True, "etag": tag(2, True)},
    "direct/resume.json": {"is_paused": False, "etag": tag(2, False)},
    "direct/resume-if-unchanged.json": "SchedulerPreconditionFailed",
}


def test_every_direct_event_file_has_a_documented_outcome() -> None:
    files = {f"direct/{path.name}" for path in (EVENTS_DIR / "direct").glob("*.json")}

    assert files == set(DIRECT_OUTCOMES)
    readme = (EVENTS_DIR / "README.md").read_text()
    assert all(name in readme for name in files)


@pytest.mark.parametrize(("name", "outcome"), DIRECT_OUTCOMES.items(), ids=DIRECT_OUTCOMES.keys())
def test_direct_event_file_gives_its_documented_outcome(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], name: str, outcome: dict[str, Any] | str
) -> None:
    event = json.loads(Path(EVENTS_DIR / name).read_text())

    if isinstance(outcome, str):
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the name is what a state machine sees
            invoke(event)
        assert type(raised.value).__name__ == outcome
        assert stored_item(dynamodb) == scheduler_entry
    else:
        assert invoke(event) == outcome
