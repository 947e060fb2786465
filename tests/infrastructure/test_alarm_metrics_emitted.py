"""Alarms watch metrics the code really emits. Each code path runs here and its EMF output is captured: the
heartbeat's read (state and age), the missing entry on every path that meets it, a flip. Then every alarm of
the SAM-translated template on a custom metric must find that metric emitted with the same namespace, name
and dimensions (names and values)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler_service import errors, observability, push_topic, repair_edge, store
from tests.conftest import TABLE_NAME, api_event, tag
from tests.infrastructure.translated import translate

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOW = "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:w-1"
HEARTBEAT = {"action": "heartbeat", "caller": "heartbeat"}


def emitted(output: str) -> list[dict[str, Any]]:
    """The EMF documents in the captured output."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def declared(document: dict[str, Any]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric name, {dimension: value}) of everything one EMF document declares."""
    found = set()
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            dimensions = frozenset((name, str(document[name])) for name in dimension_set)
            for metric in directive["Metrics"]:
                found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(store, "clock", lambda: moment)

    return set_now


# --- the heartbeat ---------------------------------------------------------------------------------------


def test_the_heartbeat_emits_the_switch_and_how_long_it_has_been_paused(
    invoke: Any, scheduler_entry: Any, clock: Callable[[datetime], None], capsys: pytest.CaptureFixture[str]
) -> None:
    clock(NOW - timedelta(hours=5, milliseconds=123))  # updated_at is kept to the millisecond
    invoke({"is_paused": True})
    clock(NOW + timedelta(microseconds=456))  # the answer is rounded to the millisecond
    capsys.readouterr()

    answer = invoke(HEARTBEAT)

    assert answer == {"is_paused": True, "etag": tag(2, True), "outcome": "read", "paused_seconds": 18000.123}
    (document,) = emitted(capsys.readouterr().out)
    assert (document["SchedulerPaused"], document["SchedulerPausedSeconds"]) == ([1.0], [18000.123])
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "SchedulerPaused", "Unit": "Count"},
        {"Name": "SchedulerPausedSeconds", "Unit": "Seconds"},
    ]
    assert (document["service"], document["stage"], document["path"]) == ("scheduler", observability.STAGE, "heartbeat")


def test_a_resumed_switch_has_been_paused_for_zero_seconds(
    invoke: Any, scheduler_entry: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = invoke(HEARTBEAT)

    assert (answer["is_paused"], answer["paused_seconds"]) == (False, 0.0)
    (document,) = emitted(capsys.readouterr().out)
    assert (document["SchedulerPaused"], document["SchedulerPausedSeconds"]) == ([0.0], [0.0])


@pytest.mark.parametrize(
    "updated_at", [None, "2026-11-29T08:00:00", "yesterday"], ids=["none", "no-zone", "not-a-time"]
)
def test_a_pause_of_unknown_age_counts_from_the_epoch(
    invoke: Any, dynamodb: Any, clock: Callable[[datetime], None], updated_at: str | None
) -> None:
    item = {"pk": {"S": "scheduler"}, "is_paused": {"BOOL": True}}
    if updated_at is not None:
        item["updated_at"] = {"S": updated_at}
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    clock(NOW)

    answer = invoke(HEARTBEAT)

    assert answer["paused_seconds"] == NOW.timestamp()  # far too long: the alarm asks someone to look


def test_a_pause_made_this_instant_is_zero_seconds_old(
    invoke: Any, scheduler_entry: Any, clock: Callable[[datetime], None]
) -> None:
    clock(NOW)
    invoke({"is_paused": True})

    assert invoke(HEARTBEAT)["paused_seconds"] == 0.0


def test_the_heartbeat_writes_nothing_and_takes_no_other_field(
    invoke: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any
) -> None:

    invoke(HEARTBEAT)
    assert dynamodb_calls.operations == ["GetItem"]
    with pytest.raises(errors.InvalidSchedulerUpdate) as raised:
        invoke({**HEARTBEAT, "is_paused": False, "if_match": tag(1, False)})
    assert str(raised.value) == "A heartbeat takes no other field; unexpected: if_match, is_paused."
    assert dynamodb_calls.operations == ["GetItem"]


def test_the_heartbeat_answers_a_missing_entry_with_the_metric_not_an_error(
    invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(HEARTBEAT) == {"outcome": "entry_missing"}

    (document,) = emitted(capsys.readouterr().out)
    assert document["SchedulerEntryMissing"] == [1.0]
    assert document["path"] == "heartbeat"
    assert "SchedulerPaused" not in document  # no state: the state-unknown alarm's metric stays missing


def test_an_unreadable_entry_fails_the_heartbeat_without_a_state_metric(
    invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    def unreadable(table: str | None = None) -> Any:
        raise RuntimeError("AccessDeniedException")

    monkeypatch.setattr(store, "read_state", unreadable)

    with pytest.raises(errors.SchedulerInternalError):
        invoke(HEARTBEAT)

    assert emitted(capsys.readouterr().out) == []  # SchedulerStateUnknownAlarm counts missing samples


# --- the missing entry, on every path that meets it ---------------------------------------------------------

PATHS_MEETING_A_MISSING_ENTRY: dict[str, tuple[Any, str]] = {
    "http-get": (api_event("GET"), "http"),
    "http-head": (api_event("HEAD"), "http"),
    "http-patch": (api_event("PATCH", body='{"is_paused": true}'), "http"),
    "direct-read": ({}, "direct"),
    "direct-write": ({"is_paused": True}, "direct"),
    "open-window": ({"action": "open_window", "wait_seconds": 60, "caller": WINDOW}, "direct"),
    "close-window": ({"action": "close_window", "caller": WINDOW}, "direct"),
    "heartbeat": (HEARTBEAT, "heartbeat"),
}


@pytest.mark.parametrize(
    ("event", "path"), PATHS_MEETING_A_MISSING_ENTRY.values(), ids=PATHS_MEETING_A_MISSING_ENTRY.keys()
)
def test_every_path_that_meets_a_missing_entry_emits_the_metric(
    invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str], event: Any, path: str
) -> None:
    with contextlib.suppress(errors.SchedulerEntryMissing):  # the direct edge raises it for state machines
        invoke(event)

    documents = [d for d in emitted(capsys.readouterr().out) if "SchedulerEntryMissing" in d]
    assert [(d["SchedulerEntryMissing"], d["path"]) for d in documents] == [([1.0], path)]


# --- alarms watch what is emitted ---------------------------------------------------------------------------


@pytest.fixture
def change_event_pipe(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A pipe in moto, named where the heartbeat looks for it (template: CHANGE_EVENT_PIPE)."""
    import boto3

    from scheduler_service import pipe_state

    pipes = boto3.client("pipes")
    pipes.create_pipe(
        Name="scheduler-pause-changes",
        RoleArn="arn:aws:iam::123456789012:role/pipes",
        Source="arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000",
        Target="arn:aws:events:eu-west-1:123456789012:event-bus/default",
    )
    monkeypatch.setenv("CHANGE_EVENT_PIPE", "scheduler-pause-changes")
    pipe_state.pipes_client.cache_clear()
    yield pipes
    pipe_state.pipes_client.cache_clear()


def every_metric_the_code_emits(invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> set[Any]:
    for event, _ in PATHS_MEETING_A_MISSING_ENTRY.values():
        with contextlib.suppress(errors.SchedulerEntryMissing):
            invoke(event)
    store.create_if_missing(actor="test-setup")
    with contextlib.suppress(errors.SchedulerPreconditionFailed):
        invoke({"is_paused": True, "if_match": tag(7, False)})
    invoke({"is_paused": True})
    invoke({"is_paused": False})
    invoke(HEARTBEAT)
    repair_edge.handler({"action": "repair"}, None)  # the retained message is missing: behind, republished
    repair_edge.handler({"action": "repair"}, None)  # now current
    ahead = store.read_state()._replace(version=99, is_paused=False)  # a message ahead of the entry: forged
    push_topic.iot_data_client().publish(
        topic=push_topic.topic(), qos=1, retain=True, payload=push_topic.message_of(ahead)
    )
    repair_edge.handler({"action": "repair"}, None)  # the entry is older than the message: healed
    return {metric for document in emitted(capsys.readouterr().out) for metric in declared(document)}


def custom_metrics_watched(alarm: dict[str, Any]) -> list[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, name, {dimension: value}) of each of our metrics an alarm reads, alone or in metric math;
    the Stage parameter resolved to the value the code uses (template: Globals STAGE is the Stage parameter)."""
    properties = alarm["Properties"]
    metrics = (
        [properties]
        if "MetricName" in properties
        else [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
    )
    return [
        (
            metric["Namespace"],
            metric["MetricName"],
            frozenset(
                (d["Name"], observability.STAGE if d["Value"] == {"Ref": "Stage"} else d["Value"])
                for d in metric["Dimensions"]
            ),
        )
        for metric in metrics
        if metric["Namespace"] == "SchedulerControl"
    ]


@pytest.mark.usefixtures("change_event_pipe", "iot_data")
def test_every_alarm_on_a_custom_metric_watches_one_the_code_emits(
    invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    template = translate()
    assert template["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"]["STAGE"] == {
        "Ref": "Stage"
    }
    emitted_metrics = every_metric_the_code_emits(invoke, dynamodb, capsys)
    watched = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Alarm" and custom_metrics_watched(resource):
            watched[name] = custom_metrics_watched(resource)
    for name, metrics in watched.items():
        for metric in metrics:
            assert metric in emitted_metrics, (name, metric)
    assert sorted(watched) == [
        "ChangeEventPipeStoppedAlarm",
        "EntryHealedAlarm",
        "FunctionErrorsAlarm",
        "PushStateBehindAlarm",
        "SchedulerEntryMissingAlarm",
        "SchedulerPausedTooLongAlarm",
        "SchedulerStateUnknownAlarm",
    ]


def dashboard_metrics(template: dict[str, Any]) -> list[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, name, {dimension: value}) of each of our metrics a dashboard widget shows, the Stage
    parameter resolved to the value the code uses."""
    widgets = []
    for dashboard in ("SchedulerDashboard", "PushDashboard"):
        body = template["Resources"][dashboard]["Properties"]["DashboardBody"]["Fn::Sub"]
        widgets += json.loads(body.replace("${Stage}", observability.STAGE))["widgets"]
    shown = []
    for widget in widgets:
        for line in widget["properties"].get("metrics", []):
            namespace, name, *rest = line
            dimensions = [part for part in rest if isinstance(part, str)]
            if namespace == "SchedulerControl":
                shown.append((namespace, name, frozenset(zip(dimensions[::2], dimensions[1::2], strict=True))))
    return shown


@pytest.mark.usefixtures("change_event_pipe", "iot_data")
def test_every_dashboard_metric_of_ours_is_one_the_code_emits_with_its_stage(
    invoke: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    emitted_metrics = every_metric_the_code_emits(invoke, dynamodb, capsys)
    shown = dashboard_metrics(translate())

    assert len(shown) >= 7
    assert ("SchedulerControl", "PushStateBehind", frozenset({("service", "scheduler"), ("stage", "local")})) in shown
    for metric in shown:
        assert metric in emitted_metrics, metric
        assert ("stage", observability.STAGE) in metric[2], metric  # dev and prod in one account stay apart


@pytest.mark.usefixtures("scheduler_entry")
def test_the_heartbeat_reports_whether_the_change_event_pipe_runs(
    invoke: Any, change_event_pipe: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    running = invoke(HEARTBEAT)
    change_event_pipe.stop_pipe(Name="scheduler-pause-changes")  # STOPPING, then STOPPED: not RUNNING
    stopped = invoke(HEARTBEAT)

    reported = [d["ChangeEventPipeRunning"] for d in emitted(capsys.readouterr().out) if "ChangeEventPipeRunning" in d]
    assert (running["change_event_pipe_running"], stopped["change_event_pipe_running"]) == (True, False)
    assert reported == [[1.0], [0.0]]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_pipe_whose_state_cannot_be_read_reports_nothing_and_the_rest_of_the_heartbeat_stands(
    invoke: Any, dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], logs: Any
) -> None:
    from scheduler_service import pipe_state

    monkeypatch.setenv("CHANGE_EVENT_PIPE", "no-such-pipe")
    pipe_state.pipes_client.cache_clear()

    answer = invoke(HEARTBEAT)

    documents = emitted(capsys.readouterr().out)
    assert answer["outcome"] == "read"
    assert "change_event_pipe_running" not in answer
    assert [d["SchedulerPaused"] for d in documents if "SchedulerPaused" in d] == [[0.0]]
    assert not [d for d in documents if "ChangeEventPipeRunning" in d]
    assert [line["message"] for line in logs() if line["level"] == "WARNING"] == [
        "The change-event pipe's state could not be read"
    ]
    pipe_state.pipes_client.cache_clear()


@pytest.mark.usefixtures("scheduler_entry")
def test_a_refused_direct_call_is_counted_and_an_internal_error_is_not(
    invoke: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    with pytest.raises(errors.SchedulerPreconditionFailed):
        invoke({"is_paused": True, "if_match": tag(7, False)})
    refused = [d for d in emitted(capsys.readouterr().out) if "DirectCallRefused" in d]
    assert [(d["DirectCallRefused"], d["error"], d["path"]) for d in refused] == [
        ([1.0], "SchedulerPreconditionFailed", "direct")
    ]

    monkeypatch.setattr(store, "write_pause", lambda *args: 1 / 0)
    with pytest.raises(errors.SchedulerInternalError):
        invoke({"is_paused": True})
    assert [d for d in emitted(capsys.readouterr().out) if "DirectCallRefused" in d] == []
