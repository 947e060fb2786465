"""Retried writes are idempotent, still in one round trip: each write stores its token on the item in the same
UpdateItem, and a retry whose condition fails on an item carrying that token is that write's own success.

The fault injected is the one that matters: the first UpdateItem lands in the database and its answer is lost
(a read timeout), so botocore, Step Functions or an HTTP client sends it again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, stored_item


def _metrics(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if '"PauseStateChanged":[' in line]


def _flip_lines(logs: Any) -> list[dict[str, Any]]:
    return [line for line in logs() if line["message"] == "Scheduler pause state changed"]


def _version(dynamodb: Any) -> int:
    item = stored_item(dynamodb)
    assert item is not None
    return int(item["version"]["N"])


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("headers", [{}, {"If-Match": '"1"'}], ids=["unconditional", "if-match"])
def test_a_patch_whose_first_answer_is_lost_is_one_write_answered_201(
    invoke: Any,
    dynamodb: Any,
    lose_answers: Any,
    logs: Any,
    capsys: pytest.CaptureFixture[str],
    headers: dict[str, str],
) -> None:
    faults = lose_answers("UpdateItem", 1)

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers=headers))

    assert faults.lost == 1  # the write landed and its answer was lost: botocore sent it again
    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"is_paused": True}
    assert response["headers"]["ETag"] == '"2"'
    assert _version(dynamodb) == 2
    assert len(_flip_lines(logs)) == 1
    assert len(_metrics(capsys.readouterr().out)) == 1


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "extra", [{}, {"if_match": '"1"'}, {"idempotency_key": "k-1"}], ids=["plain", "if-match", "key"]
)
def test_a_direct_write_whose_first_answer_is_lost_is_one_write(
    invoke: Any, dynamodb: Any, lose_answers: Any, capsys: pytest.CaptureFixture[str], extra: dict[str, str]
) -> None:
    faults = lose_answers("UpdateItem", 1)

    answer = invoke({"is_paused": True, **extra})

    assert faults.lost == 1
    assert answer == {"is_paused": True, "etag": '"2"'}
    assert _version(dynamodb) == 2
    assert len(_metrics(capsys.readouterr().out)) == 1


@pytest.mark.usefixtures("scheduler_entry")
def test_a_patch_resent_with_its_idempotency_key_is_answered_as_the_first_and_not_counted_again(
    invoke: Any, dynamodb: Any, logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    request = api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": '"a6f1c2"'})
    first = invoke(request)

    again = invoke(request)  # the client never saw the first answer and sends the request again

    assert first["statusCode"] == again["statusCode"] == 201
    assert again["body"] == first["body"]
    assert again["headers"]["ETag"] == first["headers"]["ETag"] == '"2"'
    assert _version(dynamodb) == 2
    assert len(_flip_lines(logs)) == 1
    assert [line["message"] for line in logs()].count("Scheduler write replayed") == 1
    assert len(_metrics(capsys.readouterr().out)) == 1


@pytest.mark.usefixtures("scheduler_entry")
def test_a_resent_conditional_patch_is_201_not_412(invoke: Any, dynamodb: Any) -> None:
    request = api_event("PATCH", body='{"is_paused": true}', headers={"If-Match": '"1"', "Idempotency-Key": "k-7"})
    invoke(request)

    again = invoke(request)

    assert again["statusCode"] == 201
    assert _version(dynamodb) == 2


@pytest.mark.usefixtures("scheduler_entry")
def test_a_key_is_scoped_to_its_caller(invoke: Any, dynamodb: Any) -> None:
    mine = api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": "shared"})
    theirs = api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": "shared"})
    theirs["requestContext"]["identity"]["userArn"] = "arn:aws:iam::123456789012:user/someone-else"
    invoke(mine)

    invoke(theirs)

    assert _version(dynamodb) == 3  # a different caller's write, not a replay of mine


@pytest.mark.usefixtures("scheduler_entry")
def test_a_key_reused_for_another_update_is_422_and_writes_nothing(invoke: Any, dynamodb: Any) -> None:
    invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": "k-1"}))
    before = stored_item(dynamodb)

    response = invoke(api_event("PATCH", body='{"is_paused": false}', headers={"Idempotency-Key": "k-1"}))

    assert response["statusCode"] == 422
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == "This idempotency key was already used for a different update."
    assert stored_item(dynamodb) == before


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "key",
    ['""', '"unterminated', "two words", '"tab\there"', '"' + "k" * 256 + '"', '"bad\\escape"'],
    ids=["empty", "unterminated", "space", "control", "too-long", "bad-escape"],
)
def test_an_invalid_idempotency_key_is_400_and_costs_no_round_trip(
    invoke: Any, dynamodb: Any, dynamodb_calls: Any, key: str
) -> None:
    before = stored_item(dynamodb)
    dynamodb_calls.operations.clear()

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": key}))

    assert response["statusCode"] == 400
    assert response["body"].startswith("Idempotency-Key must be a quoted string of 1 to 255 printable ASCII")
    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == before


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "key", ['"8e03978e-40d5"', "8e03978e-40d5", '"with \\"quotes\\" inside"'], ids=["quoted", "bare", "escaped-quotes"]
)
def test_idempotency_keys_in_the_forms_clients_send_are_accepted(invoke: Any, dynamodb: Any, key: str) -> None:
    request = api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": key})

    assert invoke(request)["statusCode"] == invoke(request)["statusCode"] == 201
    assert _version(dynamodb) == 2


@pytest.mark.usefixtures("scheduler_entry")
def test_two_requests_without_keys_are_two_writes(invoke: Any, dynamodb: Any) -> None:
    request = api_event("PATCH", body='{"is_paused": true}')

    invoke(request)
    invoke(request)

    assert _version(dynamodb) == 3  # without a key, only a retry inside one invocation is recognised


@pytest.mark.usefixtures("scheduler_entry")
def test_a_direct_write_resent_with_its_key_is_one_write(invoke: Any, dynamodb: Any) -> None:
    payload = {"is_paused": True, "caller": "pipeline-7", "idempotency_key": "deploy-42"}

    assert invoke(payload) == invoke(payload) == {"is_paused": True, "etag": '"2"'}
    assert _version(dynamodb) == 2


KEY_MESSAGE = (
    "Idempotency-Key must be a quoted string of 1 to 255 printable ASCII characters, such as "
    '"8e03978e-40d5-43e8-bc93-6894a57f9324".'
)


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "key",
    ['"a"b"', '"\\X"', '"abc\\"', '"\x7f"', "\x7f", "a;b", "a,b", '"' + "k" * 256 + '"', "k" * 256],
    ids=[
        "inner-quote",
        "bad-escape",
        "trailing-backslash",
        "del-quoted",
        "del-bare",
        "semicolon",
        "comma",
        "long-quoted",
        "long-bare",
    ],
)
def test_keys_outside_the_grammar_are_400_with_the_exact_text(invoke: Any, key: str) -> None:
    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": key}))

    assert response["statusCode"] == 400
    assert response["body"] == KEY_MESSAGE


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("first", "again"),
    [
        ('"a\\"b"', '"a\\"b"'),
        ('"a\\\\b"', '"a\\\\b"'),
        ('"~ !"', '"~ !"'),
        ("!", "!"),
        ("~", "~"),
        ("X", "X"),
        ('"' + "k" * 255 + '"', "k" * 255),  # the same key, quoted or bare
    ],
    ids=["escaped-quote", "escaped-backslash", "edges-quoted", "bang", "tilde", "x", "longest-both-forms"],
)
def test_keys_in_the_grammar_are_the_same_key_when_sent_again(
    invoke: Any, dynamodb: Any, first: str, again: str
) -> None:
    assert (
        invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": first}))["statusCode"] == 201
    )

    response = invoke(api_event("PATCH", body='{"is_paused": true}', headers={"Idempotency-Key": again}))

    assert response["statusCode"] == 201
    assert _version(dynamodb) == 2
