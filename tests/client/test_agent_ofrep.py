"""The agent speaks OFREP (OpenFeature Remote Evaluation Protocol 0.3.0): its answers checked against the
protocol's own OpenAPI document (docs/agent/ofrep-openapi.yaml, as published), and read through the OpenFeature
Python SDK with its maintained OFREP provider, as a node would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from scheduler_client.agent import Agent
from scheduler_client.ofrep import DEFAULT_FLAG_KEY, MAX_REQUEST_BYTES
from scheduler_client.testing import FakePauseWatcher
from tests.client.test_agent import Reader, answers, exchange

OPENAPI = yaml.safe_load((Path(__file__).parents[2] / "docs" / "agent" / "ofrep-openapi.yaml").read_text())
SINGLE = "/ofrep/v1/evaluate/flags/" + DEFAULT_FLAG_KEY
BULK = "/ofrep/v1/evaluate/flags"


def schema(name: str) -> Draft202012Validator:
    """A schema of the document's components, its references resolved within the document."""
    return Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{name}"})


def a_boolean_success(document: Any) -> None:
    """evaluationSuccess as the document means it. Its ``oneOf`` of flag types cannot hold for any value:
    ``codeDefaultFlag`` constrains nothing, so a boolean flag matches both it and ``booleanFlag``. The common part
    and ``booleanFlag`` are checked instead, and codeDefaultFlag is excluded by the value's presence."""
    common = OPENAPI["components"]["schemas"]["evaluationSuccess"]["allOf"][0]
    Draft202012Validator({**OPENAPI, **common, "required": ["key", "reason"]}).validate(document)
    schema("booleanFlag").validate(document)


@pytest.fixture
def fake() -> FakePauseWatcher:
    return FakePauseWatcher(paused=None)


@pytest.fixture
def agent(fake: FakePauseWatcher) -> Iterator[Agent]:
    with Agent(fake, port=0) as served:
        yield served


@pytest.fixture
def reader(agent: Agent) -> Reader:
    return Reader(agent)


def post(reader: Reader, path: str, body: bytes = b"{}", **headers: str) -> tuple[int, dict[str, str], Any]:
    status, answered, raw = reader("POST", path, body=body, Content_Type="application/json", **headers)
    return status, answered, json.loads(raw) if raw else None


# --- the protocol, as its document says ---------------------------------------------------------------------


@pytest.mark.parametrize("paused", [True, False])
def test_the_flag_evaluates_to_the_switch_with_a_static_reason_its_variant_and_version(
    fake: FakePauseWatcher, reader: Reader, paused: bool
) -> None:
    fake.set_paused(paused)

    status, headers, document = post(reader, SINGLE, b'{"context": {"targetingKey": "node-7", "region": "eu"}}')

    assert status == 200
    a_boolean_success(document)
    assert document == {
        "key": DEFAULT_FLAG_KEY,
        "value": paused,
        "reason": "STATIC",
        "variant": "paused" if paused else "running",
        "metadata": {"version": 1, "etag": '"1.p.fake"' if paused else '"1.r.fake"'},
    }
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("body", [b"{}", b'{"context": {}}'], ids=["no-context", "no-targeting-key"])
def test_no_targeting_key_is_needed_for_a_flag_that_targets_nobody(
    fake: FakePauseWatcher, reader: Reader, body: bytes
) -> None:
    fake.set_paused(True)
    assert post(reader, SINGLE, body)[0] == 200


def test_another_key_is_flag_not_found(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)

    status, _, document = post(reader, "/ofrep/v1/evaluate/flags/checkout.enabled")

    assert status == 404
    schema("flagNotFound").validate(document)
    assert (document["key"], document["errorCode"]) == ("checkout.enabled", "FLAG_NOT_FOUND")


def test_a_percent_encoded_key_is_decoded_before_it_is_compared(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)
    assert post(reader, "/ofrep/v1/evaluate/flags/scheduler%2Epaused")[0] == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "PARSE_ERROR"),
        (b"not json", "PARSE_ERROR"),
        (b"[1, 2]", "PARSE_ERROR"),
        (b'{"context": {}, "context": {}}', "PARSE_ERROR"),
        (b"[" * 5000, "PARSE_ERROR"),
        (b"\xff\xfe", "PARSE_ERROR"),
        (b'{"context": "node-7"}', "INVALID_CONTEXT"),
        (b'{"context": null}', "INVALID_CONTEXT"),
    ],
    ids=["empty", "not-json", "an-array", "a-key-twice", "deep", "not-utf8", "context-a-string", "context-null"],
)
def test_a_request_that_is_not_one_is_a_400_evaluation_failure(
    fake: FakePauseWatcher, reader: Reader, body: bytes, code: str
) -> None:
    fake.set_paused(True)

    status, _, document = post(reader, SINGLE, body)

    assert status == 400
    schema("evaluationFailure").validate(document)
    assert (document["key"], document["errorCode"]) == (DEFAULT_FLAG_KEY, code)
    assert document["errorDetails"]


def test_a_bulk_request_that_is_not_one_is_a_400_bulk_failure(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)

    status, _, document = post(reader, BULK, b"[]")

    assert status == 400
    schema("bulkEvaluationFailure").validate(document)
    assert document["errorCode"] == "PARSE_ERROR"


def test_a_body_larger_than_any_context_is_413(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)

    status, _, document = post(reader, SINGLE, b" " * (MAX_REQUEST_BYTES + 1))

    assert status == 413
    assert document["errorCode"] == "PARSE_ERROR"


def test_a_body_at_the_bound_is_read(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)
    assert post(reader, SINGLE, b"{}".ljust(MAX_REQUEST_BYTES))[0] == 200


@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_before_the_first_value_it_is_503_with_retry_after_never_a_guess(reader: Reader, path: str) -> None:
    status, headers, document = post(reader, path)

    assert status == 503
    assert headers["retry-after"] == "1"
    schema("generalErrorResponse").validate(document)
    assert document["errorCode"] == "GENERAL"
    assert "value" not in document
    assert "flags" not in document


def test_bulk_evaluates_every_flag_with_the_switchs_etag_and_304_while_it_holds(
    fake: FakePauseWatcher, reader: Reader
) -> None:
    fake.set_paused(False)

    status, headers, document = post(reader, BULK)
    not_modified = post(reader, BULK, If_None_Match=headers["etag"])
    fake.set_paused(True)
    changed = post(reader, BULK, If_None_Match=headers["etag"])

    assert status == 200
    schema("bulkEvaluationSuccess").validate({**document, "flags": []})
    [flag] = document["flags"]
    a_boolean_success(flag)
    assert (flag["key"], flag["value"]) == (DEFAULT_FLAG_KEY, False)
    assert headers["etag"] == '"1.r.fake"'
    assert document["metadata"] == {"version": 1, "etag": '"1.r.fake"'}
    assert (not_modified[0], not_modified[2]) == (304, None)
    assert (changed[0], changed[1]["etag"], changed[2]["flags"][0]["value"]) == (200, '"2.p.fake"', True)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_evaluation_routes_take_post_only(reader: Reader, method: str, path: str) -> None:
    status, headers, _ = reader(method, path)
    assert (status, headers["allow"]) == (405, "POST")


def test_the_flag_key_can_be_another(fake: FakePauseWatcher) -> None:
    fake.set_paused(True)
    with Agent(fake, port=0, flag_key="payments.scheduler.paused") as served:
        read = Reader(served)
        ours = post(read, "/ofrep/v1/evaluate/flags/payments.scheduler.paused")
        default = post(read, SINGLE)

    assert (ours[0], ours[2]["key"]) == (200, "payments.scheduler.paused")
    assert default[0] == 404


# --- through OpenFeature's SDK and its OFREP provider -------------------------------------------------------


@pytest.fixture
def openfeature_client(agent: Agent) -> Iterator[Any]:
    from openfeature import api
    from openfeature.contrib.provider.ofrep import OFREPProvider

    api.set_provider(OFREPProvider(agent.url.rstrip("/")), domain="scheduler-agent-test")
    yield api.get_client(domain="scheduler-agent-test")
    api.clear_providers()


@pytest.mark.parametrize("paused", [True, False])
def test_openfeatures_sdk_reads_the_switch_through_its_ofrep_provider(
    fake: FakePauseWatcher, openfeature_client: Any, paused: bool
) -> None:
    from openfeature.flag_evaluation import Reason

    fake.set_paused(paused)

    details = openfeature_client.get_boolean_details(DEFAULT_FLAG_KEY, True)

    assert details.value is paused
    assert details.reason == Reason.STATIC
    assert details.variant == ("paused" if paused else "running")
    assert details.flag_metadata == {"version": 1, "etag": f'"1.{"p" if paused else "r"}.fake"'}
    assert details.error_code is None


def test_through_the_sdk_the_code_default_answers_before_the_first_value(openfeature_client: Any) -> None:
    from openfeature.exception import ErrorCode

    details = openfeature_client.get_boolean_details(DEFAULT_FLAG_KEY, True)  # a node's safe default: paused

    assert details.value is True
    assert details.error_code == ErrorCode.GENERAL


def test_through_the_sdk_another_key_is_flag_not_found(fake: FakePauseWatcher, openfeature_client: Any) -> None:
    from openfeature.exception import ErrorCode

    fake.set_paused(False)

    details = openfeature_client.get_boolean_details("checkout.enabled", True)

    assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)


# --- exactly what a provider is told --------------------------------------------------------------------------------

NOT_READY = "the switch's first value is not known yet: retry shortly (the agent never guesses)"


def test_not_ready_names_the_flag_asked_for_and_bulk_names_none(reader: Reader) -> None:
    single = post(reader, SINGLE)[2]
    every = post(reader, BULK)[2]

    assert single == {"key": DEFAULT_FLAG_KEY, "errorCode": "GENERAL", "errorDetails": NOT_READY}
    assert every == {"errorCode": "GENERAL", "errorDetails": NOT_READY}


@pytest.mark.parametrize(
    ("path", "body", "document"),
    [
        (
            "/ofrep/v1/evaluate/flags/checkout.enabled",
            b"{}",
            {
                "key": "checkout.enabled",
                "errorCode": "FLAG_NOT_FOUND",
                "errorDetails": "no flag 'checkout.enabled': this agent serves one",
            },
        ),
        (
            SINGLE,
            b"[]",
            {
                "key": DEFAULT_FLAG_KEY,
                "errorCode": "PARSE_ERROR",
                "errorDetails": "the body is a JSON object, with an optional context: {} will do",
            },
        ),
        (
            SINGLE,
            b'{"context": 7}',
            {"key": DEFAULT_FLAG_KEY, "errorCode": "INVALID_CONTEXT", "errorDetails": "context is a JSON object"},
        ),
        (
            BULK,
            b"[]",
            {
                "errorCode": "PARSE_ERROR",
                "errorDetails": "the body is a JSON object, with an optional context: {} will do",
            },
        ),
    ],
    ids=["unknown-key", "not-an-object", "context-not-an-object", "bulk-not-an-object"],
)
def test_each_failure_document_is_exactly_the_protocols(
    fake: FakePauseWatcher, reader: Reader, path: str, body: bytes, document: dict[str, Any]
) -> None:
    fake.set_paused(True)
    assert post(reader, path, body)[2] == document


def test_a_chunked_bulk_request_is_refused_in_the_protocols_form(fake: FakePauseWatcher, agent: Agent) -> None:
    from tests.client.test_agent import raw

    fake.set_paused(True)
    head, _, body = raw(
        agent,
        b"POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ).partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 411 ")
    assert json.loads(body) == {
        "errorCode": "PARSE_ERROR",
        "errorDetails": "send the body with a Content-Length (a chunked body is not read)",
    }


def test_a_bulk_304_names_the_tag_it_holds(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)
    tag = post(reader, BULK)[1]["etag"]

    status, headers, _ = post(reader, BULK, If_None_Match=tag)

    assert (status, headers["etag"]) == (304, tag)


def test_on_the_wire_a_bulk_304_has_no_body_and_evaluations_name_their_headers_exactly(
    fake: FakePauseWatcher, agent: Agent
) -> None:
    """Pipelined on one raw connection (see test_agent.py's wire tests): the 304 carries not one byte."""
    fake.set_paused(True)

    def evaluate(path: str, header: str) -> bytes:
        return f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n{header}\r\n\r\n{{}}".encode()

    stream = exchange(agent, evaluate(BULK, 'If-None-Match: "1.p.fake"') + evaluate(SINGLE, "Connection: close"))

    (bulk, bulk_lines, bulk_body), (single, single_lines, single_body) = answers(stream, [True, False])
    assert (bulk, bulk_lines, bulk_body) == (
        "HTTP/1.1 304 Not Modified",
        ["Server: scheduler-agent", 'ETag: "1.p.fake"'],
        b"",
    )
    assert single == "HTTP/1.1 200 OK"
    assert single_lines == [
        "Server: scheduler-agent", "Content-Type: application/json", "Cache-Control: no-store", 'ETag: "1.p.fake"',
        f"Content-Length: {len(single_body)}", "Connection: close",
    ]  # fmt: skip
    assert json.loads(single_body)["value"] is True


def test_on_the_wire_before_the_first_value_an_evaluation_says_when_to_retry(agent: Agent) -> None:
    stream = exchange(
        agent, f"POST {SINGLE} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode()
    )

    [(status, lines, _)] = answers(stream, [False])
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert lines[1:4] == ["Content-Type: application/json", "Cache-Control: no-store", "Retry-After: 1"]
