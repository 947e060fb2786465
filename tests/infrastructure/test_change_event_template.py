"""The change event's input template (template.yaml: PauseChangeEvents) makes valid JSON for any value a record
can carry, quotes and backslashes in updated_by included, and keeps the version a number; the filter lets
through only records that have every field the template reads. Rendered as tests/pipes_template.py says Pipes
does."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local_stack.template import load_template
from tests.pipes_template import render


def pipe() -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"]["PauseChangeEvents"]["Properties"]
    return properties


def template(stage: str = "prod") -> str:
    text: str = pipe()["TargetParameters"]["InputTemplate"]["Fn::Sub"]
    return text.replace("${Stage}", stage)


def record(updated_by: str, version: str = "8", old: bool = False, new: bool = True) -> dict[str, Any]:
    def image(paused: bool) -> dict[str, Any]:
        return {
            "pk": {"S": "scheduler"},
            "is_paused": {"BOOL": paused},
            "version": {"N": version},
            "updated_by": {"S": updated_by},
            "updated_at": {"S": "2026-11-29T08:00:00.250+00:00"},
        }

    return {"eventName": "MODIFY", "dynamodb": {"OldImage": image(old), "NewImage": image(new)}}


def passes_the_filter(candidate: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    filters = pipe()["SourceParameters"]["FilterCriteria"]["Filters"]
    return any(EventPattern.load(entry["Pattern"]).matches_event(cast(Any, candidate)) for entry in filters)


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
    event = json.loads(render(template(), record(updated_by)))

    assert event == {
        "is_paused": True,
        "previous_is_paused": False,
        "version": 8,
        "updated_by": updated_by,
        "updated_at": "2026-11-29T08:00:00.250+00:00",
        "stage": "prod",
    }
    assert isinstance(event["version"], int)


@given(updated_by=st.text(max_size=600), version=st.integers(min_value=1, max_value=10**18))
def test_any_updated_by_and_any_version_render_to_json_with_a_numeric_version(updated_by: str, version: int) -> None:
    event = json.loads(render(template(), record(updated_by, str(version))))

    assert event["updated_by"] == updated_by
    assert event["version"] == version


@pytest.mark.parametrize("missing", ["version", "updated_by", "updated_at"])
def test_a_flip_without_a_field_the_template_reads_is_kept_out_by_the_filter(missing: str) -> None:
    flip = record("operator")
    assert passes_the_filter(flip)

    del flip["dynamodb"]["NewImage"][missing]

    assert not passes_the_filter(flip)


@pytest.mark.parametrize(("old", "new", "passes"), [(False, True, True), (True, False, True), (True, True, False)])
def test_only_flips_pass(old: bool, new: bool, passes: bool) -> None:
    assert passes_the_filter(record("operator", old=old, new=new)) is passes
