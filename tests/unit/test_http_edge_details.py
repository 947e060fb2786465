"""The HTTP edge's details that clients and operators rely on: how headers arrive from API Gateway, who the
caller is, the Location it answers, the texts of its 400s, and hand-written entries it must still serve."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TABLE_NAME, api_event, stored_item


@pytest.mark.usefixtures("scheduler_entry")
def test_a_header_sent_on_several_lines_is_read_from_multi_value_headers(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["headers"]["If-Match"] = '"9"'  # API Gateway keeps only the last line in "headers"
    event["multiValueHeaders"]["If-Match"] = ['"1"', '"9"']

    assert invoke(event)["statusCode"] == 201


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("absent", [None, {}], ids=["null", "empty"])
def test_an_event_without_multi_value_headers_is_served(invoke: Any, absent: Any) -> None:
    event = api_event("GET", headers={"If-None-Match": '"1"'})
    event["multiValueHeaders"] = absent

    assert invoke(event)["statusCode"] == 304


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("absent", [None, {}], ids=["null", "empty"])
def test_an_event_without_headers_at_all_is_served(invoke: Any, absent: Any) -> None:
    event = api_event("GET")
    event["headers"] = absent
    event["multiValueHeaders"] = absent

    assert invoke(event)["statusCode"] == 200


@pytest.mark.parametrize(
    ("identity", "recorded"),
    [
        (
            {"userArn": "arn:aws:iam::1:user/a", "caller": "AIDA1", "user": "AIDA2", "accountId": "1"},
            "arn:aws:iam::1:user/a",
        ),
        ({"userArn": None, "caller": "AIDA1:session", "user": "AIDA2", "accountId": "1"}, "AIDA1:session"),
        ({"userArn": "", "caller": None, "user": "AIDA2", "accountId": "1"}, "AIDA2"),
        ({"accountId": "123456789012"}, "123456789012"),
        ({}, "anonymous"),
    ],
    ids=["user-arn", "caller", "user", "account", "nobody"],
)
def test_the_caller_is_the_most_specific_identity_api_gateway_gave(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], identity: dict[str, Any], recorded: str
) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["requestContext"]["identity"] = identity

    invoke(event)

    item = stored_item(dynamodb)
    assert item is not None
    assert item["updated_by"] == {"S": recorded}


@pytest.mark.usefixtures("scheduler_entry")
def test_location_falls_back_to_the_host_header_and_the_first_forwarded_proto(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}', headers={"Host": "scheduler.example.com"})
    del event["requestContext"]["domainName"]
    event["headers"]["X-Forwarded-Proto"] = "http"
    event["multiValueHeaders"]["X-Forwarded-Proto"] = ["http", "https"]

    response = invoke(event)

    stage = event["requestContext"]["stage"]
    assert response["headers"]["Location"] == f"http://scheduler.example.com/{stage}/scheduler/"


@pytest.mark.usefixtures("scheduler_entry")
def test_location_is_https_on_the_gateways_domain_with_the_stage(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    del event["headers"]["X-Forwarded-Proto"]
    event["multiValueHeaders"].pop("X-Forwarded-Proto", None)

    response = invoke(event)

    domain, stage = event["requestContext"]["domainName"], event["requestContext"]["stage"]
    assert response["headers"]["Location"] == f"https://{domain}/{stage}/scheduler/"


def test_a_hand_written_updated_at_gives_no_last_modified_and_a_warning(invoke: Any, dynamodb: Any, logs: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE_NAME,
        Item={
            "pk": {"S": "scheduler"},
            "is_paused": {"BOOL": False},
            "version": {"N": "3"},
            "updated_at": {"S": "yesterday"},
        },
    )

    response = invoke(api_event("GET"))

    assert response["statusCode"] == 200
    assert response["headers"]["ETag"] == '"3"'
    assert "Last-Modified" not in response["headers"]
    warnings = [line for line in logs() if line["level"] == "WARNING"]
    assert [line["updated_at"] for line in warnings] == ["yesterday"]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_lone_surrogate_in_a_text_body_is_400_not_500(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    event = api_event("PATCH", body='{"is_paused": true}', base64_body=False)
    event["body"] = '{"is_paused": true, "x": "\ud800"}'

    response = invoke(event)

    assert response["statusCode"] == 400
    assert response["body"] == "The request body is not UTF-8 text."
    assert stored_item(dynamodb) == scheduler_entry


# The exact 400 texts clients read

MESSAGES = {
    "null": ("null", 'The request body must be a JSON object, not null: send {"is_paused": true}.'),
    "boolean": ("true", 'The request body must be a JSON object, not a boolean: send {"is_paused": true}.'),
    "number": ("7", 'The request body must be a JSON object, not a number: send {"is_paused": true}.'),
    "string": ('"yes"', 'The request body must be a JSON object, not a string: send {"is_paused": true}.'),
    "array": ("[true]", 'The request body must be a JSON object, not an array: send {"is_paused": true}.'),
    "value-null": ('{"is_paused": null}', 'Field "is_paused" must be true or false, not null.'),
    "value-number": ('{"is_paused": 1}', 'Field "is_paused" must be true or false, not a number.'),
    "value-string": ('{"is_paused": "true"}', 'Field "is_paused" must be true or false, not a string.'),
    "value-array": ('{"is_paused": []}', 'Field "is_paused" must be true or false, not an array.'),
    "value-object": ('{"is_paused": {}}', 'Field "is_paused" must be true or false, not an object.'),
    "one-unexpected": (
        '{"is_paused": true, "node": 3}',
        'Unexpected field: "node". The only field that can be updated is "is_paused".',
    ),
    "two-unexpected": (
        '{"a": 1, "is_paused": true, "b": 2}',
        'Unexpected fields: "a", "b". The only field that can be updated is "is_paused".',
    ),
    "no-fields": ("{}", 'No fields were specified. The only field that can be updated is "is_paused".'),
    "empty": ("  ", 'The request body is empty: send a JSON object such as {"is_paused": true}.'),
    "too-large": ('{"is_paused": true' + " " * 1024 + "}", "The request body is larger than 1024 bytes."),
    "duplicate": (
        '{"is_paused": true, "is_paused": false}',
        'The request body is not valid JSON: field "is_paused" appears more than once.',
    ),
    "nan": ('{"is_paused": NaN}', "The request body is not valid JSON: NaN is not JSON."),
}


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(("body", "message"), MESSAGES.values(), ids=MESSAGES.keys())
def test_each_400_says_exactly_what_is_wrong(invoke: Any, body: str, message: str) -> None:
    response = invoke(api_event("PATCH", body=body))

    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == message


@pytest.mark.usefixtures("scheduler_entry")
def test_malformed_json_says_where(invoke: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": '))

    assert response["body"] == "The request body is not valid JSON: Expecting value: line 1 column 15 (char 14)."


@pytest.mark.usefixtures("scheduler_entry")
def test_a_body_that_is_not_base64_says_so(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["body"] = "not base64!"

    assert invoke(event)["body"] == "The request body is not valid base64."


@pytest.mark.usefixtures("scheduler_entry")
def test_unknown_paths_and_methods_say_where_the_scheduler_is(invoke: Any) -> None:
    assert (
        invoke(api_event("GET", path="/other"))["body"] == 'No resource at "/other". The scheduler is at /scheduler/.'
    )
    response = invoke(api_event("POST", body="{}"))
    assert response["body"] == 'Method "POST" is not allowed here. Use GET, HEAD or PATCH.'
    assert response["headers"]["Allow"] == "GET, HEAD, PATCH"
