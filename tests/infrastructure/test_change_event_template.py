"""The change event's input template (template.yaml: PauseChangeEvents) makes valid JSON for any value a record
can carry, quotes and backslashes in updated_by included, and keeps the version a number; the filter lets
through only records that have every field the template reads. Rendered as local_stack/pipes_template.py says Pipes
does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local_stack.change_events import detail_of, passes_the_filter


def record(
    updated_by: str, version: str = "8", old: bool = False, new: bool = True, reason: str = "the migration"
) -> dict[str, Any]:
    def image(paused: bool) -> dict[str, Any]:
        return {
            "pk": {"S": "scheduler"},
            "is_paused": {"BOOL": paused},
            "version": {"N": version},
            "updated_by": {"S": updated_by},
            "updated_at": {"S": "2026-11-29T08:00:00.250+00:00"},
            "reason": {"S": reason},
        }

    return {"eventName": "MODIFY", "dynamodb": {"OldImage": image(old), "NewImage": image(new)}}


@pytest.mark.parametrize(
    "updated_by",
    [
        'direct:pipeline "nightly"',
        "direct:back\\slash",
        "direct:tab\tand\nnewline",
        "stepfunctions:arn:aws:states:eu-west-1:123456789012:execution:m:run-1",
        "direct:ünïcødé ✓",
        'direct:</script>{"is_paused": false}',
    ],
    ids=["quotes", "backslash", "control", "execution", "unicode", "json-lookalike"],
)
def test_the_event_is_valid_json_whatever_updated_by_holds(updated_by: str) -> None:
    event = detail_of(record(updated_by), "prod")

    assert event == {
        "is_paused": True,
        "previous_is_paused": False,
        "version": 8,
        "updated_by": updated_by,
        "updated_at": "2026-11-29T08:00:00.250+00:00",
        "reason": "the migration",
        "stage": "prod",
    }
    assert isinstance(event["version"], int)


@given(
    updated_by=st.text(max_size=600),
    version=st.integers(min_value=1, max_value=10**18),
    reason=st.text(max_size=256),
)
def test_any_updated_by_reason_and_version_render_to_json_with_a_numeric_version(
    updated_by: str, version: int, reason: str
) -> None:
    event = detail_of(record(updated_by, str(version), reason=reason), "prod")

    assert event["updated_by"] == updated_by
    assert event["reason"] == reason
    assert event["version"] == version


@pytest.mark.parametrize("missing", ["version", "updated_by", "updated_at", "reason"])
def test_a_flip_without_a_field_the_template_reads_is_kept_out_by_the_filter(missing: str) -> None:
    flip = record("operator")
    assert passes_the_filter(flip)

    del flip["dynamodb"]["NewImage"][missing]

    assert not passes_the_filter(flip)


@pytest.mark.parametrize(("old", "new", "passes"), [(False, True, True), (True, False, True), (True, True, False)])
def test_only_flips_pass(old: bool, new: bool, passes: bool) -> None:
    assert passes_the_filter(record("operator", old=old, new=new)) is passes
