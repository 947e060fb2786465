"""What the entry point takes from Lambda's context and the event: the request id (the token of a write that
brings no key), whether the call came through the live alias, and the ids every log line carries."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from scheduler_service import app, errors
from tests.conftest import api_event, stored_item, tag


class ThinContext:
    """What some local runners pass: no request id, no invoked ARN."""


@pytest.mark.usefixtures("scheduler_entry")
def test_the_request_id_of_the_context_is_the_write_request(invoke: Any, dynamodb: Any, lambda_context: Any) -> None:
    invoke({"is_paused": True})

    item = stored_item(dynamodb)
    assert item is not None
    # The item keeps hashes (docs/architecture.md): the token's first 96 bits, the request's first 48.
    request = lambda_context.aws_request_id
    assert item["w0"]["M"]["r"] == {"S": hashlib.sha256(request.encode()).hexdigest()[:12]}
    assert item["w0"]["M"]["t"] == {"S": hashlib.sha256(f"request:{request}".encode()).hexdigest()[:24]}


@pytest.mark.usefixtures("scheduler_entry")
def test_without_a_request_id_each_invocation_gets_its_own(dynamodb: Any) -> None:
    first = app.lambda_handler({"is_paused": True}, ThinContext())
    second = app.lambda_handler({"is_paused": False}, ThinContext())

    # Two writes, not one write and its "replay": each had a token of its own.
    assert (first, second) == ({"is_paused": True, "etag": tag(2, True)}, {"is_paused": False, "etag": tag(3, False)})
    item = stored_item(dynamodb)
    assert item is not None
    assert item["w0"]["M"]["r"] != item["w1"]["M"]["r"]
    assert hashlib.sha256(b"None").hexdigest()[:12] not in (item["w0"]["M"]["r"]["S"], item["w1"]["M"]["r"]["S"])


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("arn", ["missing", None], ids=["no-attribute", "none"])
def test_a_proxy_event_without_an_invoked_arn_is_refused_with_what_to_send(arn: Any, dynamodb: Any) -> None:
    context: Any = ThinContext()
    if arn is not None:
        context.invoked_function_arn = None

    with pytest.raises(errors.InvalidSchedulerUpdate) as raised:
        app.lambda_handler(api_event("GET"), context)

    assert str(raised.value) == (
        "An API Gateway event is accepted only through the function's live alias. "
        'Direct callers send {"is_paused": true} or {"is_paused": false}.'
    )


@pytest.mark.usefixtures("scheduler_entry")
def test_log_lines_say_whether_the_container_was_cold(invoke: Any, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app._invocations, "count", 0)  # a fresh container

    invoke({"is_paused": True})
    invoke({"is_paused": False})

    flips = [line for line in logs() if line["message"] == "Scheduler pause state changed"]
    assert [line["cold_start"] for line in flips] == [True, False]


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("event", "correlation_id"),
    [
        (
            {"is_paused": True, "caller": "arn:aws:states:eu-west-1:1:execution:m:e"},
            "arn:aws:states:eu-west-1:1:execution:m:e",
        ),
        ({"is_paused": True}, None),
    ],
    ids=["caller", "no-caller"],
)
def test_log_lines_carry_the_calling_execution_as_correlation_id(
    invoke: Any, logs: Any, event: dict[str, Any], correlation_id: str | None
) -> None:
    invoke(event)

    (flip,) = [line for line in logs() if line["message"] == "Scheduler pause state changed"]
    assert flip.get("correlation_id") == correlation_id


@pytest.mark.parametrize("event", [["is_paused"], {"caller": 7}], ids=["not-an-object", "caller-not-a-string"])
def test_an_event_that_names_no_correlation_id_tags_none(invoke: Any, dynamodb: Any, event: Any) -> None:
    from scheduler_service.observability import logger

    with pytest.raises(errors.InvalidSchedulerUpdate):
        invoke(event)

    # None is left out of every line; an empty string or a number would be printed as the correlation id.
    assert logger.get_current_keys()["correlation_id"] is None
