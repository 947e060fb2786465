"""The HTTP edge's details that clients and operators rely on: how headers arrive from API Gateway, who the
caller is, the Location it answers, the texts of its 400s, and hand-written entries it must still serve."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TABLE_NAME, api_event, stored_item, tag


@pytest.mark.usefixtures("scheduler_entry")
def test_a_header_sent_on_several_lines_is_read_from_multi_value_headers(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["headers"]["If-Match"] = tag(9, False)  # API Gateway keeps only the last line in "headers"
    event["multiValueHeaders"]["If-Match"] = [tag(1, False), tag(9, False)]

    assert invoke(event)["statusCode"] == 201


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("absent", [None, {}], ids=["null", "empty"])
def test_an_event_without_multi_value_headers_is_served(invoke: Any, absent: Any) -> None:
    event = api_event("GET", headers={"If-None-Match": tag(1, False)})
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
    assert response["headers"]["ETag"] == '"3.r"'
    assert "Last-Modified" not in response["headers"]
    assert "Scheduler-Changed-At" not in response["headers"]
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


# Headers as API Gateway may pass them


@pytest.mark.usefixtures("scheduler_entry")
def test_a_header_given_only_in_multi_value_headers_counts(invoke: Any) -> None:
    event = api_event("GET")
    event["headers"] = None
    event["multiValueHeaders"] = {"If-None-Match": [tag(1, False)]}

    assert invoke(event)["statusCode"] == 304


@pytest.mark.usefixtures("scheduler_entry")
def test_null_header_values_are_no_headers(invoke: Any, dynamodb: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["headers"]["If-Match"] = None
    event["multiValueHeaders"]["If-Match"] = None

    assert invoke(event)["statusCode"] == 201


@pytest.mark.usefixtures("scheduler_entry")
def test_an_if_match_list_with_junk_still_names_its_versions(invoke: Any) -> None:
    event = api_event(
        "PATCH", body='{"is_paused": true}', headers={"If-Match": f"junk, W/{tag(1, False)}, {tag(1, False)}"}
    )

    assert invoke(event)["statusCode"] == 201


# Location


@pytest.mark.usefixtures("scheduler_entry")
def test_location_prefers_the_gateways_domain_to_the_host_header(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}', headers={"Host": "internal.example"})
    event["requestContext"]["domainName"] = "abc123.execute-api.eu-west-1.amazonaws.com"

    location = invoke(event)["headers"]["Location"]

    assert (
        location == f"https://abc123.execute-api.eu-west-1.amazonaws.com/{event['requestContext']['stage']}/scheduler/"
    )


@pytest.mark.usefixtures("scheduler_entry")
def test_location_without_domain_host_or_scheme_is_https_localhost(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}', headers={"X-Forwarded-Proto": " "})
    del event["requestContext"]["domainName"]
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Host", None)

    location = invoke(event)["headers"]["Location"]

    assert location == f"https://localhost/{event['requestContext']['stage']}/scheduler/"


@pytest.mark.usefixtures("scheduler_entry")
def test_location_is_the_requested_path_when_the_context_path_is_a_resource(invoke: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["requestContext"]["path"] = "/scheduler"  # a local gateway's resource, not the path requested

    location = invoke(event)["headers"]["Location"]

    assert location == f"https://{event['requestContext']['domainName']}/scheduler/"


# Exact texts of the other refusals


@pytest.mark.usefixtures("scheduler_entry")
def test_a_base64_body_with_characters_outside_the_alphabet_is_refused(invoke: Any, dynamodb: Any) -> None:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["body"] += "!"

    response = invoke(event)

    assert (response["statusCode"], response["body"]) == (400, "The request body is not valid base64.")


@pytest.mark.usefixtures("scheduler_entry")
def test_a_body_of_exactly_the_limit_is_read(invoke: Any) -> None:
    body = '{"is_paused": true' + " " * (1024 - len('{"is_paused": true}')) + "}"
    assert len(body) == 1024

    assert invoke(api_event("PATCH", body=body))["statusCode"] == 201


@pytest.mark.usefixtures("scheduler_entry")
def test_an_event_without_a_path_is_the_root(invoke: Any) -> None:
    event = api_event("GET")
    del event["path"]

    assert invoke(event)["body"] == 'No resource at "/". The scheduler is at /scheduler/.'


@pytest.mark.usefixtures("scheduler_entry")
def test_a_stale_if_match_says_what_to_do(invoke: Any) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": tag(7, False)}))

    assert response["statusCode"] == 412
    assert response["body"] == (
        "The scheduler does not meet the request's preconditions (If-Match, If-Unmodified-Since or "
        "If-None-Match). GET it again and retry."
    )
    assert response["headers"]["ETag"] == tag(1, False)


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=utf8", 201),
        ('application/json; charset="utf-8"', 201),
        ("application/json; charset=UTF-8", 201),
        ("application/json; charset=utf-8=x", 415),
    ],
    ids=["utf8", "quoted", "upper-case", "two-equals"],
)
def test_charset_parameters(invoke: Any, content_type: str, status: int) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Content-Type": content_type}))

    assert response["statusCode"] == status


@pytest.mark.usefixtures("scheduler_entry")
def test_another_charset_is_415_naming_it(invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]) -> None:
    response = invoke(
        api_event("PATCH", body='{"is_paused": true}', headers={"Content-Type": "application/json; charset=Latin-1"})
    )

    assert (response["statusCode"], response["body"]) == (415, 'Charset "latin-1" is not supported: JSON is UTF-8.')
    assert stored_item(dynamodb) == scheduler_entry


@pytest.mark.usefixtures("scheduler_entry")
def test_the_instant_of_the_change_is_given_exactly_beside_the_rounded_validator(invoke: Any, dynamodb: Any) -> None:
    """People are shown the write's own instant (Scheduler-Changed-At, to the millisecond, UTC); Last-Modified
    is only the HTTP validator, which may round up to the next second."""
    written = invoke(api_event("PATCH", body='{"is_paused": true}'))
    stored = stored_item(dynamodb)
    assert stored is not None

    read = invoke(api_event("GET"))

    assert written["headers"]["Scheduler-Changed-At"] == stored["updated_at"]["S"]
    assert read["headers"]["Scheduler-Changed-At"] == stored["updated_at"]["S"]
    assert stored["updated_at"]["S"].endswith("+00:00")


def test_a_time_written_by_hand_with_an_offset_is_given_in_utc(invoke: Any, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE_NAME,
        Item={
            "pk": {"S": "scheduler"},
            "is_paused": {"BOOL": True},
            "version": {"N": "3"},
            "updated_at": {"S": "2026-12-01T10:00:00+02:00"},
        },
    )

    response = invoke(api_event("GET"))

    assert response["headers"]["Scheduler-Changed-At"] == "2026-12-01T08:00:00.000+00:00"
