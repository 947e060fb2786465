"""Property tests on the PATCH body: whatever JSON (or bytes) a client sends, the answer is 201 with exactly
{"is_paused": bool} and that value stored, or 400 text/plain with nothing written. Never anything else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TABLE_NAME, api_event, stored_item

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
# Objects that look like updates, so the interesting boundary (exactly one boolean is_paused) is hit often.
UPDATE_LIKE = st.dictionaries(
    st.sampled_from(["is_paused", "IS_PAUSED", "paused", ""]) | st.text(max_size=8), JSON_VALUES, max_size=3
)

# The moto table is reset to the same entry before each example, so sharing the fixture is sound.
SHARED_FIXTURES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _is_valid_update(value: Any) -> bool:
    """The spec's rule, independently: an object whose only field is is_paused, a boolean."""
    return isinstance(value, dict) and list(value) == ["is_paused"] and type(value["is_paused"]) is bool


def _reset(dynamodb: Any, entry: dict[str, Any]) -> None:
    dynamodb.put_item(TableName=TABLE_NAME, Item=entry)


@SHARED_FIXTURES
@given(body=JSON_VALUES | UPDATE_LIKE)
def test_any_json_body_is_201_with_the_value_or_400_with_nothing_written(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], body: Any
) -> None:
    _reset(dynamodb, scheduler_entry)

    response = invoke(api_event("PATCH", body=json.dumps(body)))

    if _is_valid_update(body):
        assert response["statusCode"] == 201
        assert json.loads(response["body"]) == body
        item = stored_item(dynamodb)
        assert item is not None
        assert item["is_paused"] == {"BOOL": body["is_paused"]}
    else:
        assert response["statusCode"] == 400
        assert response["headers"]["Content-Type"] == "text/plain"
        assert stored_item(dynamodb) == scheduler_entry


@SHARED_FIXTURES
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_bytes_are_201_or_400_never_a_server_error(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any], raw: bytes
) -> None:
    _reset(dynamodb, scheduler_entry)

    response = invoke(api_event("PATCH", body=raw))

    assert response["statusCode"] in (201, 400)
    if response["statusCode"] == 400:
        assert stored_item(dynamodb) == scheduler_entry
