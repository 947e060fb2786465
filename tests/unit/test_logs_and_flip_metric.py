"""Every log line names its invocation; a flip of the switch (not a repeat) emits the PauseStateChanged metric."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event


def _metrics(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return [line for line in lines if "PauseStateChanged" in line]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_flip_emits_one_pause_state_changed_metric(invoke: Any, capsys: pytest.CaptureFixture[str]) -> None:
    invoke(api_event("PATCH", body='{"is_paused": true}'))

    metrics = _metrics(capsys.readouterr().out)
    assert len(metrics) == 1
    assert metrics[0]["PauseStateChanged"] in (1, 1.0, [1.0])
    assert metrics[0]["is_paused"] == "true"
    assert metrics[0]["service"] == "scheduler"
    assert metrics[0]["stage"] == "local"  # the STAGE the function runs with (unset here: the local stack's)
    declared = metrics[0]["_aws"]["CloudWatchMetrics"][0]
    assert declared["Namespace"] == "SchedulerControl"
    assert declared["Dimensions"] == [["service", "stage", "is_paused"]]
    assert declared["Metrics"] == [{"Name": "PauseStateChanged", "Unit": "Count"}]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_repeat_of_the_same_value_emits_no_metric(invoke: Any, capsys: pytest.CaptureFixture[str]) -> None:
    invoke(api_event("PATCH", body='{"is_paused": false}'))

    assert _metrics(capsys.readouterr().out) == []


@pytest.mark.usefixtures("scheduler_entry")
def test_log_lines_carry_the_api_request_id_and_lambda_request_id(invoke: Any, logs: Any, lambda_context: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')

    invoke(event)

    lines = logs()
    assert lines
    assert all(line["correlation_id"] == event["requestContext"]["requestId"] for line in lines)
    assert all(line["function_request_id"] == lambda_context.aws_request_id for line in lines)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_flip_is_logged_with_who_and_which_version_and_a_repeat_is_not(invoke: Any, logs: Any) -> None:
    invoke(api_event("PATCH", body='{"is_paused": true}'))
    invoke(api_event("PATCH", body='{"is_paused": true}'))

    changes = [line for line in logs() if line["level"] == "INFO"]
    assert len(changes) == 1
    assert changes[0]["is_paused"] is True
    assert changes[0]["version"] == 2
    assert changes[0]["updated_by"].startswith("arn:aws:sts::")


@pytest.mark.usefixtures("scheduler_entry", "iot_data")
def test_the_publisher_and_the_repair_log_with_their_lambda_request_id(logs: Any, lambda_context: Any) -> None:
    """The push path's lines name their invocation too: a record the publisher cannot read, and a repair."""
    from scheduler_service import repair_edge, stream_edge

    stream_edge.handler({"Records": [{"eventName": "MODIFY", "dynamodb": {"NewImage": {}}}]}, lambda_context)
    repair_edge.handler({"action": "repair"}, lambda_context)  # nothing retained: it logs the republish

    lines = logs()
    assert {line["message"].split(":")[0] for line in lines} == {
        "A change record holds no readable switch",
        "No retained message yet",
        "Published the retained message",
    }
    assert all(line["function_request_id"] == lambda_context.aws_request_id for line in lines)
