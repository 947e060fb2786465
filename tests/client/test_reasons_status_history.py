"""The operator's side of issue 20 in the client: a reason travels with a write (Scheduler-Reason, percent-encoded
UTF-8, refused before sending when the service would refuse it), the status view is read and shown, and the
history is read from the audit log (CloudWatch Logs) or the local stack's records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_client import SchedulerClient
from scheduler_client.cli import main
from scheduler_client.client import encode_reason
from scheduler_client.history import (
    MAX_PAGES,
    Change,
    RecordsUnreadable,
    audit_log_changes,
    local_changes,
    local_stack_changes,
    parse_since,
)
from tests.client.conftest import Answer, ScriptedServer, etag, state_answer, status_answer

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def audit_record(is_paused: bool, previous: bool | None, at: str, **detail: Any) -> str:
    """One record of the audit log as docs/operations.md shows it: the EventBridge event of one flip."""
    return json.dumps(
        {
            "version": "0",
            "detail-type": "Scheduler pause changed",
            "source": "scheduler-control",
            "time": at.replace("+00:00", "Z"),
            "detail": {
                "is_paused": is_paused,
                "previous_is_paused": previous,
                "version": 3,
                "updated_by": "arn:aws:sts::123456789012:assumed-role/Operator/alice",
                "updated_at": at,
                "reason": "",
                "stage": "prod",
                **detail,
            },
        }
    )


# --- a reason on the write ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "header"),
    [
        ("deploy 2026.12.1: pausing for the schema migration", "deploy 2026.12.1: pausing for the schema migration"),
        ("caf\u00e9 \u20ac", "caf%C3%A9 %E2%82%AC"),
        ("100% sure", "100%25 sure"),
        ("\U0001f6a7", "%F0%9F%9A%A7"),
    ],
)
def test_a_reason_is_sent_percent_encoded_where_it_is_not_printable_ascii(
    server: ScriptedServer, reason: str, header: str
) -> None:
    assert encode_reason(reason) == header
    server.play(state_answer(True, 8, status=201))
    SchedulerClient(server.url, timeout=2.0).set_paused(True, reason=reason)
    assert server.received[0].headers["scheduler-reason"] == header


def test_a_write_without_a_reason_sends_no_reason_header(server: ScriptedServer) -> None:
    server.play(state_answer(True, 8, status=201))
    SchedulerClient(server.url, timeout=2.0).set_paused(True)
    assert "scheduler-reason" not in server.received[0].headers


@pytest.mark.parametrize(
    ("reason", "says"),
    [("x" * 257, "257 characters long; at most 256"), ("two\nlines", "holds a control character"), ("a\tb", "control")],
)
def test_a_reason_the_service_would_refuse_is_refused_before_anything_is_sent(
    server: ScriptedServer, reason: str, says: str
) -> None:
    server.play(state_answer(False, 7))
    with pytest.raises(ValueError, match=says):
        SchedulerClient(server.url, timeout=2.0).set_paused(True, reason=reason)
    assert server.received == []


def test_256_characters_is_the_longest_reason(server: ScriptedServer) -> None:
    server.play(state_answer(True, 8, status=201))
    SchedulerClient(server.url, timeout=2.0).set_paused(True, reason="\u00e9" * 256)
    assert server.received[0].headers["scheduler-reason"] == "%C3%A9" * 256


def test_pause_reason_travels_with_the_write(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(state_answer(False, 7), state_answer(True, 8, status=201))
    code, _, _ = run(capsys, "pause", "--url", server.url, "--reason", "incident 4711: queue backlog")
    assert code == 0
    patch = server.received[-1]
    assert (patch.method, patch.headers["scheduler-reason"]) == ("PATCH", "incident 4711: queue backlog")
    assert patch.headers["if-match"] == etag(7, False)


def test_pause_with_a_bad_reason_is_a_usage_error_and_writes_nothing(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(False, 7))
    code, out, err = run(capsys, "pause", "--url", server.url, "--reason", "one\ntwo")
    assert (code, out) == (2, "")
    assert "--reason: the reason holds a control character, U+000A: one line of text" in err
    assert [r.method for r in server.received if r.method != "GET"] == []


# --- the status view ---------------------------------------------------------------------------------------


def test_status_reads_the_view_beside_the_resource(server: ScriptedServer) -> None:
    window = {
        "name": "nightly-42",
        "execution": "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:nightly-42",
        "until": "2026-11-29T09:30:00+00:00",
    }
    server.play(status_answer(True, 9, reason="nightly window", via="state machine", windows=[window]))
    view = SchedulerClient(server.url, timeout=2.0).status()
    assert server.received[0].path == "/Prod/scheduler/status"
    assert (view.state.is_paused, view.state.etag) == (True, etag(9, True))
    assert (view.reason, view.via, view.stage) == ("nightly window", "state machine", "prod")
    assert view.updated_at == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert [(w.name, w.until) for w in view.windows] == [("nightly-42", datetime(2026, 11, 29, 9, 30, tzinfo=UTC))]


def test_a_status_view_without_who_or_why_says_unknown(server: ScriptedServer) -> None:
    server.play(status_answer(False, 1, updated_by=None, via=None, updated_at=None, stage=None))
    view = SchedulerClient(server.url, timeout=2.0).status()
    assert view.describe().splitlines()[1:] == [
        "changed by unknown via unknown, at an unknown time",
        "reason: none given",
    ]


# --- history -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)]
)
def test_since_takes_a_duration(text: str, seconds: float) -> None:
    assert parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "1y", "24 hours", "1e3s"])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_since(text)


def test_a_change_reads_who_when_old_new_why_and_through_what() -> None:
    change = Change.from_event(
        audit_record(True, False, "2026-11-29T08:00:00+00:00", reason="incident 4711", updated_by="stepfunctions:x")
    )
    assert change is not None
    assert change.describe() == (
        '2026-11-29 08:00:00 UTC  resumed -> paused  by stepfunctions:x via state machine  "incident 4711"'
    )
    assert change.to_json()["via"] == "state machine"


@pytest.mark.parametrize(
    ("updated_by", "via"),
    [
        ("arn:aws:sts::123456789012:assumed-role/Operator/alice", "api"),
        ("stepfunctions:arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:n", "state machine"),
        ("direct:arn:aws:lambda:eu-west-1:123456789012:function:f", "direct invocation"),
        ("cloudformation", "deploy"),
        ("operator:alice", "restore"),
        ("local-stack", "local stack"),
        ("", "unknown"),
    ],
)
def test_through_what_comes_from_how_the_author_is_recorded(updated_by: str, via: str) -> None:
    change = Change.from_event(audit_record(True, False, "2026-11-29T08:00:00+00:00", updated_by=updated_by))
    assert change is not None
    assert change.via == via


def test_the_first_change_has_no_old_value_and_no_reason() -> None:
    change = Change.from_event(audit_record(True, None, "2026-11-29T08:00:00+00:00"))
    assert change is not None
    assert change.describe().split("  ")[1:4:2] == ["? -> paused", "(no reason given)"]


@pytest.mark.parametrize(
    "message", ["not json", "[]", '{"detail": {}}', '{"detail": {"is_paused": "yes", "updated_at": "2026-11-29"}}']
)
def test_a_record_of_another_shape_is_skipped(message: str) -> None:
    assert Change.from_event(message) is None


def test_the_local_records_are_read_oldest_first_since_then(tmp_path: Path) -> None:
    path = tmp_path / "changes.jsonl"
    path.write_text(
        "\n".join(
            [
                audit_record(False, True, "2026-11-29T11:00:00+00:00"),
                "a torn line",
                audit_record(True, None, "2026-11-27T08:00:00+00:00"),
                audit_record(True, False, "2026-11-29T10:00:00+00:00", reason="b"),
            ]
        )
    )
    changes = local_changes(path, NOW - timedelta(hours=24))
    assert [(c.time.hour, c.is_paused, c.reason) for c in changes] == [(10, True, "b"), (11, False, None)]


def test_a_records_file_that_is_not_there_is_an_error_naming_where_it_looked(tmp_path: Path) -> None:
    """Never "no change": a wrong path must not look like a quiet week."""
    with pytest.raises(RecordsUnreadable, match=str(tmp_path / "absent.jsonl")):
        local_changes(tmp_path / "absent.jsonl", NOW)


def test_the_local_stacks_records_are_read_from_the_stack_itself(server: ScriptedServer) -> None:
    record = audit_record(True, False, "2026-11-29T10:00:00+00:00", reason="from the stack")
    server.play(Answer(200, record + "\n", {"Content-Type": "application/x-ndjson"}))

    changes = local_stack_changes(server.url, NOW - timedelta(hours=24))

    assert [(c.is_paused, c.reason) for c in changes] == [(True, "from the stack")]
    assert [(r.method, r.path) for r in server.received] == [("GET", "/_local/changes")]


def test_a_stack_that_does_not_serve_its_records_is_an_error_naming_the_url(server: ScriptedServer) -> None:
    server.play(Answer(404, "no such route", {}))

    with pytest.raises(
        RecordsUnreadable, match=r"cannot read the local stack's records at http://127\.0\.0\.1:\d+/_local/changes"
    ):
        local_stack_changes(server.url, NOW)


def test_records_are_read_only_over_http_never_from_a_file_url() -> None:
    """urlopen would read a file: URL (here /_local/changes of this machine); the records come from the stack."""
    with pytest.raises(RecordsUnreadable, match=r"file:///_local/changes: not an http\(s\) URL"):
        local_stack_changes("file:///scheduler/", NOW - timedelta(hours=24))


class PagedLogs:
    """FilterLogEvents as CloudWatch Logs pages it; ``endless`` gives a token forever."""

    def __init__(self, pages: list[list[str]], endless: bool = False) -> None:
        self.pages, self.endless, self.calls = pages, endless, list[dict[str, Any]]()

    def filter_log_events(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        index = len(self.calls) - 1
        page: dict[str, Any] = {"events": [{"message": m} for m in self.pages[min(index, len(self.pages) - 1)]]}
        if self.endless or index + 1 < len(self.pages):
            page["nextToken"] = f"token-{index + 1}"
        return page


def test_the_audit_log_is_read_page_by_page_within_the_window() -> None:
    logs = PagedLogs(
        [
            [audit_record(True, False, "2026-11-29T10:00:00+00:00")],
            [audit_record(False, True, "2026-11-29T09:00:00+00:00")],
        ]
    )
    since = NOW - timedelta(hours=6)
    changes = audit_log_changes(logs, "/aws/events/audit", since, until=NOW)
    assert [c.time.hour for c in changes] == [9, 10]
    assert logs.calls[0] == {
        "logGroupName": "/aws/events/audit",
        "startTime": int(since.timestamp() * 1000),
        "endTime": int(NOW.timestamp() * 1000),
    }
    assert logs.calls[1]["nextToken"] == "token-1"


def test_reading_the_audit_log_is_bounded() -> None:
    logs = PagedLogs([[]], endless=True)
    assert audit_log_changes(logs, "g", NOW - timedelta(hours=1), until=NOW) == []
    assert len(logs.calls) == MAX_PAGES


def test_history_under_make_run_reads_the_stacks_records_from_any_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    """The records come from the stack the URL names, whatever the current folder holds."""
    at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    record = audit_record(True, False, at.isoformat(), reason="trying it", updated_by="local-stack")
    server.play(Answer(200, record + "\n", {"Content-Type": "application/x-ndjson"}))
    monkeypatch.chdir(tmp_path)  # a folder with no .local/ at all

    code, out, err = run(capsys, "history", "--url", server.url)
    assert (code, err) == (0, "")
    assert out.endswith('resumed -> paused  by local-stack via local stack  "trying it"\n')
    code, out, _ = run(capsys, "--json", "history", "--url", server.url, "--since", "30m")
    assert (code, json.loads(out)) == (0, [])


def test_history_of_a_local_stack_that_is_not_there_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "history", "--url", "http://127.0.0.1:1/scheduler/")

    assert (code, out) == (1, "")
    assert "cannot read the local stack's records at http://127.0.0.1:1/_local/changes" in err
    assert "no change" not in err


def test_history_reads_the_audit_log_with_the_operators_credentials(
    capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    import boto3
    from moto import mock_aws

    group = "scheduler-control-prod-PauseChangeAuditLog-1A2B3C"
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with mock_aws():
        logs = boto3.client("logs", region_name="eu-west-1")
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="events")
        logs.put_log_events(
            logGroupName=group,
            logStreamName="events",
            logEvents=[
                {
                    "timestamp": int(at.timestamp() * 1000),
                    "message": audit_record(True, False, at.isoformat(), reason="incident 4711"),
                }
            ],
        )
        url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/scheduler/"
        code, out, err = run(capsys, "--json", "history", "--url", url, "--log-group", group, "--since", "1d")
    assert (code, err) == (0, "")
    [change] = json.loads(out)
    assert (change["is_paused"], change["previous_is_paused"], change["reason"]) == (True, False, "incident 4711")


def test_history_of_a_deployed_api_needs_its_audit_log(
    capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/scheduler/"
    code, out, err = run(capsys, "history", "--url", url)
    assert (code, out) == (2, "")
    assert "give --stack NAME or --log-group NAME" in err


def test_history_with_a_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "history", "--url", "http://127.0.0.1:3000/scheduler/", "--since", "yesterday")
    assert code == 2
    assert "--since: 'yesterday' is not a duration" in err


def test_a_change_reads_every_field_of_its_record() -> None:
    record = json.loads(
        audit_record(False, True, "2026-11-29T08:00:00.250+00:00", reason="drained", version=12, stage="prod")
    )
    record["time"] = "2026-11-29T08:00:01Z"  # when EventBridge took it: the change's own time comes first
    change = Change.from_event(json.dumps(record))
    assert change is not None
    assert change.to_json() == {
        "time": "2026-11-29T08:00:00.250000+00:00",
        "is_paused": False,
        "previous_is_paused": True,
        "version": 12,
        "updated_by": "arn:aws:sts::123456789012:assumed-role/Operator/alice",
        "via": "api",
        "reason": "drained",
        "stage": "prod",
    }


def test_fields_of_the_wrong_type_or_missing_read_as_unknown() -> None:
    record = json.loads(audit_record(True, None, "2026-11-29T08:00:00+00:00"))
    record["detail"].update(previous_is_paused="false", version="12", updated_by="", stage="")
    change = Change.from_event(json.dumps(record))
    assert change is not None
    assert (change.previous_is_paused, change.version, change.updated_by, change.stage) == (None, None, None, None)
    assert "by unknown via unknown" in change.describe()


def test_a_record_without_updated_at_is_placed_at_its_events_time() -> None:
    record = json.loads(audit_record(True, False, "2026-11-29T08:00:00+00:00"))
    del record["detail"]["updated_at"]
    record["time"] = "2026-11-29T09:30:00Z"
    change = Change.from_event(json.dumps(record))
    assert change is not None
    assert change.time == datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def test_a_change_at_the_very_start_of_the_window_is_in_it(tmp_path: Path) -> None:
    path = tmp_path / "changes.jsonl"
    path.write_text(audit_record(True, False, "2026-11-29T11:00:00+00:00") + "\n")
    assert len(local_changes(path, datetime(2026, 11, 29, 11, 0, tzinfo=UTC))) == 1
    assert local_changes(path, datetime(2026, 11, 29, 11, 0, 1, tzinfo=UTC)) == []


def test_a_page_without_events_is_an_empty_page() -> None:
    class Empty:
        def filter_log_events(self, **_: Any) -> dict[str, Any]:
            return {}

    assert audit_log_changes(Empty(), "g", NOW - timedelta(hours=1), until=NOW) == []


def test_the_window_ends_now_in_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        logs = PagedLogs([[]])
        before = datetime.now(UTC)
        audit_log_changes(logs, "g", before - timedelta(hours=1))
        assert abs(logs.calls[0]["endTime"] - before.timestamp() * 1000) < 60_000
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
