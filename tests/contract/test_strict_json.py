"""scheduler_contract.strict_json: every reader of outside JSON (the PATCH body, the push message, an OFREP
request) refuses what two readers could take differently, with one exception type and a reason."""

from __future__ import annotations

import pytest

from scheduler_contract import strict_json


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"is_paused": true, "is_paused": false}', 'field "is_paused" appears more than once'),
        ('{"n": NaN}', "NaN is not JSON"),
        ('{"n": -Infinity}', "-Infinity is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["a-key-twice", "nan", "infinity", "too-deep"],
)
def test_what_readers_could_disagree_on_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("(", r"\(") + "$"):
        strict_json.loads(text)


def test_plain_json_is_read_as_it_is() -> None:
    assert strict_json.loads('{"is_paused": true, "context": {"a": [1, 2.5, null]}}') == {
        "is_paused": True,
        "context": {"a": [1, 2.5, None]},
    }
