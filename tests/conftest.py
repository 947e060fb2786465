"""Shared fixtures: a moto DynamoDB table built from template.yaml, the scheduler entry, API Gateway events
built from the samples in events/, and a counter of DynamoDB calls."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from tests import fake_iot_data
from tests.fake_iot_data import FakeIotDataPlane

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = PROJECT_ROOT / "events"
TABLE_NAME = "scheduler-test"
# The incarnation the scheduler_entry fixture's entry is created with: its tags are known in advance.
ENTRY_INCARNATION = "mk3x0a9z7q2c"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object the code and Powertools read."""

    function_name: str = "scheduler-test"
    memory_limit_in_mb: int = 512
    # API Gateway invokes the function's API alias (template.yaml: AutoPublishAlias).
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:scheduler-test:live"
    aws_request_id: str = "5f2c9c2e-0000-4000-8000-000000000001"
    log_stream_name: str = "2026/11/28/[$LATEST]0123456789abcdef"


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine whose local time is 9 hours ahead of UTC: none of it may leak into what is read or shown."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and the function's environment; no endpoint override, so moto answers.

    moto intercepts botocore through a handler it registers when it is imported, and only sessions created
    afterwards carry it; the function keeps one botocore session per process (aws.botocore_session). So
    moto is imported here, before any test can create that session: a test file run alone never reaches AWS.
    """
    import moto.core.models  # noqa: F401

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "TABLE_NAME": TABLE_NAME,
        "LIVE_ALIAS": "live",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)


@pytest.fixture
def moto_config() -> dict[str, Any]:
    """moto's configuration; a test module overrides this fixture to run Step Functions, say."""
    return {}


@pytest.fixture
def dynamodb(aws_env: None, moto_config: dict[str, Any]) -> Iterator[Any]:
    """A moto DynamoDB with the scheduler table exactly as template.yaml declares it, and no entry yet."""
    from moto import mock_aws

    from local_stack.template import create_table
    from scheduler_service import store

    store.dynamodb_client.cache_clear()
    with mock_aws(config=cast(Any, moto_config)):
        client = store.dynamodb_client()
        create_table(client, TABLE_NAME)
        yield client
    store.dynamodb_client.cache_clear()


@pytest.fixture
def iot_data(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIotDataPlane]:
    """IoT Core's data plane as the publisher and the repair meet it (tests/fake_iot_data.py), on the topic and
    endpoint the template gives them; its sleeps between publish attempts are recorded, not slept."""
    from scheduler_service import push_topic

    monkeypatch.setenv("PUSH_TOPIC", fake_iot_data.TOPIC)
    monkeypatch.setenv("IOT_DATA_ENDPOINT", fake_iot_data.ENDPOINT)
    monkeypatch.setattr(push_topic, "sleep", lambda seconds: None)
    push_topic.iot_data_client.cache_clear()
    plane = FakeIotDataPlane()
    client = push_topic.iot_data_client()
    client.meta.events.register_first("before-send.iot-data", plane)
    yield plane
    client.meta.events.unregister("before-send.iot-data", plane)
    push_topic.iot_data_client.cache_clear()


@pytest.fixture
def scheduler_entry(dynamodb: Any) -> dict[str, Any]:
    """The one scheduler entry, created as a deploy creates it. Returns the stored item."""
    from scheduler_service import store

    assert store.create_if_missing(actor="test-setup", incarnation=ENTRY_INCARNATION)
    item = stored_item(dynamodb)
    assert item is not None
    return item


def stored_item(client: Any) -> dict[str, Any] | None:
    """The raw scheduler item as DynamoDB holds it (None when missing): what 'nothing written' is proven on."""
    from scheduler_service import store

    item: dict[str, Any] | None = client.get_item(
        TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True
    ).get("Item")
    return item


def etag_of(item: dict[str, Any]) -> str:
    """The ETag the service must serve for a stored item, as docs/api.md defines it:
    ``"<version>.<p|r>.<incarnation>"``, or ``"<version>.<p|r>"`` for an entry without an incarnation."""
    version = item.get("version", {"N": "0"})["N"]
    state = "p" if item["is_paused"]["BOOL"] else "r"
    incarnation = item.get("incarnation", {}).get("S")
    return f'"{version}.{state}.{incarnation}"' if incarnation else f'"{version}.{state}"'


def tag(version: int, is_paused: bool, incarnation: str | None = ENTRY_INCARNATION) -> str:
    """An ETag written out from docs/api.md's form: the fixture entry's (version 1, running) is tag(1, False)."""
    state = "p" if is_paused else "r"
    return f'"{version}.{state}.{incarnation}"' if incarnation else f'"{version}.{state}"'


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


def api_event(
    method: str,
    *,
    path: str = "/scheduler/",
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it, from events/get.json. Bodies arrive base64-encoded
    (the API's binary media type is */*) unless base64_body=False."""
    event = copy.deepcopy(load_event("get.json"))
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["path"] = path
    # The gateway names the resource that matched: ours, or the catch-all that answers 404.
    resources = {"/scheduler": "/scheduler", "/scheduler/status": "/scheduler/status"}
    event["resource"] = event["requestContext"]["resourcePath"] = resources.get(path.rstrip("/"), "/{proxy+}")
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    if body is None:
        event["body"], event["isBase64Encoded"] = None, False
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if base64_body:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode("ascii"), True
        else:
            event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


@dataclass
class CallCounter:
    """Counts the DynamoDB API calls the client actually makes (moto answers them)."""

    operations: list[str]


@pytest.fixture
def dynamodb_calls(dynamodb: Any) -> Iterator[CallCounter]:
    counter = CallCounter(operations=[])

    def record(model: Any, **_: Any) -> None:
        counter.operations.append(model.name)

    dynamodb.meta.events.register("before-call.dynamodb", record)
    yield counter
    dynamodb.meta.events.unregister("before-call.dynamodb", record)


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The service's structured log lines (Powertools JSON), parsed, as the function wrote them."""
    import io
    import sys

    from scheduler_service.observability import logger

    handler: Any = logger.registered_handler
    stream = io.StringIO()
    # Not setStream: it flushes the old stream, which an earlier pytest session in this process may have
    # closed (mutmut runs several in one process).
    original, handler.stream = handler.stream, stream
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    handler.stream = sys.stdout if getattr(original, "closed", False) else original


def next_request_id(counter: list[int] = [0]) -> str:  # noqa: B006  # one counter for the session
    """A fresh Lambda request id, as every invocation has its own."""
    counter[0] += 1
    return f"5f2c9c2e-0000-4000-8000-{counter[0]:012d}"


@pytest.fixture
def invoke(lambda_context: LambdaContext) -> Callable[[Any], dict[str, Any]]:
    """Calls the real entry point, lambda_handler, as Lambda would: each call a new invocation (request id)."""
    from scheduler_service import app

    def call(event: Any) -> dict[str, Any]:
        lambda_context.aws_request_id = next_request_id()
        return app.lambda_handler(event, lambda_context)

    return call


class LostAnswers:
    """Lets the next ``pending`` calls of one DynamoDB operation reach moto, then raises a read timeout instead
    of their answer, as a network that drops the response would: the write lands, and botocore sends it again."""

    def __init__(self) -> None:
        self.pending = 0
        self.lost = 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        if self.pending == 0:
            return None
        from botocore.exceptions import ReadTimeoutError
        from moto.core.models import botocore_stubber

        botocore_stubber(request=request, event_name=event_name)  # the write lands
        self.pending -= 1
        self.lost += 1
        raise ReadTimeoutError(endpoint_url=request.url)


@pytest.fixture
def lose_answers(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, int], LostAnswers]]:
    """``lose_answers(operation, count)``: the next ``count`` answers of ``operation`` are lost. botocore's
    backoff before its retry is recorded, not slept."""
    import types

    import botocore.endpoint

    from scheduler_service import store

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    client = store.dynamodb_client()
    armed: list[tuple[str, LostAnswers]] = []

    def arm(operation: str, count: int) -> LostAnswers:
        faults = LostAnswers()
        faults.pending = count
        client.meta.events.register_first(f"before-send.dynamodb.{operation}", faults)
        armed.append((operation, faults))
        return faults

    yield arm
    for operation, faults in armed:
        client.meta.events.unregister(f"before-send.dynamodb.{operation}", faults)
