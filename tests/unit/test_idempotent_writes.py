"""Retried writes are idempotent, still in one round trip: each write keeps its token among the item's recent
writes (the last eight) in the same UpdateItem, and a retry whose condition fails on an item remembering that
token is answered with the state that write made, even after other writes came in between: a retry never
writes a second time.

The fault injected is the one that matters: the first UpdateItem lands in the database and its answer is lost
(a read timeout), so botocore, Step Functions or an HTTP client sends it again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import api_event, stored_item, tag


def _metrics(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if '"PauseStateChanged":[' in line]


def _flip_lines(logs: Any) -> list[dict[str, Any]]:
    return [line for line in logs() if line["message"] == "Scheduler pause state changed"]


def _version(dynamodb: Any) -> int:
    item = stored_item(dynamodb)
    assert item is not None
    return int(item["version"]["N"])


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("headers", [{}, {"If-Match": tag(1, False)}], ids=["unconditional", "if-match"])
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
    assert response["headers"]["ETag"] == tag(2, True)
    assert _version(dynamodb) == 2
    assert len(_flip_lines(logs)) == 1
    assert len(_metrics(capsys.readouterr().out)) == 1


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "extra", [{}, {"if_match": tag(1, False)}, {"idempotency_key": "k-1"}], ids=["plain", "if-match", "key"]
)
def test_a_direct_write_whose_first_answer_is_lost_is_one_write(
    invoke: Any, dynamodb: Any, lose_answers: Any, capsys: pytest.CaptureFixture[str], extra: dict[str, str]
) -> None:
    faults = lose_answers("UpdateItem", 1)

    answer = invoke({"is_paused": True, **extra})

    assert faults.lost == 1
    assert answer == {"is_paused": True, "etag": tag(2, True)}
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
    assert again["headers"]["ETag"] == first["headers"]["ETag"] == tag(2, True)
    assert _version(dynamodb) == 2
    assert len(_flip_lines(logs)) == 1
    assert [line["message"] for line in logs()].count("Scheduler write replayed") == 1
    assert len(_metrics(capsys.readouterr().out)) == 1


@pytest.mark.usefixtures("scheduler_entry")
def test_a_resent_conditional_patch_is_201_not_412(invoke: Any, dynamodb: Any) -> None:
    request = api_event(
        "PATCH", body='{"is_paused": true}', headers={"If-Match": tag(1, False), "Idempotency-Key": "k-7"}
    )
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

    assert invoke(payload) == invoke(payload) == {"is_paused": True, "etag": tag(2, True)}
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


# A retry after another write: the competitor's write stands, and the retry is told what its own write did.


def _patch(value: bool, key: str, operator: str = "operator-a", if_match: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key, **({"If-Match": if_match} if if_match else {})}
    event = api_event("PATCH", body=json.dumps({"is_paused": value}), headers=headers)
    event["requestContext"]["identity"]["userArn"] = f"arn:aws:iam::123456789012:user/{operator}"
    return event


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "if-match"])
def test_a_retry_after_a_competing_write_never_undoes_it(
    invoke: Any, dynamodb: Any, logs: Any, capsys: pytest.CaptureFixture[str], conditional: bool
) -> None:
    """Operator A pauses and its answer is lost; operator B resumes; A's client sends A's request again."""
    a_pauses = _patch(True, "a-1", "operator-a", tag(1, False) if conditional else None)
    first = invoke(a_pauses)
    assert invoke(_patch(False, "b-1", "operator-b"))["statusCode"] == 201
    after_b = stored_item(dynamodb)

    retried = invoke(a_pauses)

    assert retried["statusCode"] == 201  # A is told its write landed, with the state it made
    assert json.loads(retried["body"]) == {"is_paused": True}
    assert retried["headers"]["ETag"] == first["headers"]["ETag"] == tag(2, True)
    assert stored_item(dynamodb) == after_b  # B's resume stands, nothing written again
    assert _version(dynamodb) == 3  # one version per write: A's and B's
    assert len(_flip_lines(logs)) == 2
    assert len(_metrics(capsys.readouterr().out)) == 2


@pytest.mark.usefixtures("scheduler_entry")
def test_a_retry_is_recognised_behind_seven_later_writes_and_not_behind_eight(invoke: Any, dynamodb: Any) -> None:
    invoke(_patch(True, "mine"))
    for index in range(7):
        invoke(_patch(index % 2 == 0, f"other-{index}", "operator-b"))
    before = stored_item(dynamodb)

    assert invoke(_patch(True, "mine"))["headers"]["ETag"] == tag(2, True)
    assert stored_item(dynamodb) == before
    invoke(_patch(False, "other-7", "operator-b"))  # the eighth later write: "mine" falls off the item
    assert invoke(_patch(True, "mine"))["headers"]["ETag"] == tag(11, True)  # no longer known: a new write


@pytest.mark.usefixtures("scheduler_entry")
def test_a_key_reused_for_another_value_after_other_writes_is_still_422(invoke: Any, dynamodb: Any) -> None:
    invoke(_patch(True, "k-9"))
    invoke(_patch(False, "b-2", "operator-b"))
    before = stored_item(dynamodb)

    response = invoke(_patch(False, "k-9"))

    assert response["statusCode"] == 422
    assert stored_item(dynamodb) == before


@pytest.mark.usefixtures("scheduler_entry")
def test_the_item_stays_small_whatever_the_keys(invoke: Any, dynamodb: Any) -> None:
    for index in range(12):
        invoke(_patch(index % 2 == 0, f'"{"k" * 250}-{index}"', "x" * 200))

    item = stored_item(dynamodb)
    assert item is not None
    assert sorted(name for name in item if name.startswith("w") and name[1:].isdigit()) == [f"w{n}" for n in range(8)]
    assert len(json.dumps(item)) < 2048  # kept tokens are hashes: the item does not grow with keys or callers
