"""The error names a state machine matches (ErrorEquals) are a contract kept in one module, errors.py: every
name the definitions match is defined there, each refusal leaves the direct edge under its own name, and no
name collides with one of the client package's."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.template import PROJECT_ROOT
from scheduler_service import errors
from tests.conftest import stored_item

DEFINITIONS = sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json"))
# Names Step Functions and Lambda make themselves, not the function.
FOREIGN_PREFIXES = ("Lambda.", "States.", "Sandbox.")


def matched_names(definition: Path) -> Iterator[str]:
    """Every name in a Retry or Catch of the definition, and every Fail state's Error."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ErrorEquals":
                    yield from value
                elif key == "Error" and node.get("Type") == "Fail":
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(json.loads(definition.read_text()))


def own_names() -> set[str]:
    return {
        name
        for definition in DEFINITIONS
        for name in matched_names(definition)
        if not name.startswith(FOREIGN_PREFIXES)
    }


def test_every_name_a_state_machine_matches_is_an_exception_of_the_errors_module() -> None:
    defined = {name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, Exception)}

    assert DEFINITIONS, "no state machine definitions found"
    assert own_names() <= defined, own_names() - defined


def test_every_refusal_is_matched_by_both_state_machines() -> None:
    for definition in DEFINITIONS:
        names = set(matched_names(definition))
        assert {refusal.__name__ for refusal in errors.refusals()} <= names, definition.name
        assert "SchedulerInternalError" in names, definition.name


@pytest.mark.parametrize("refusal", errors.refusals(), ids=lambda refusal: refusal.__name__)
def test_each_refusal_leaves_the_direct_edge_under_its_own_name(
    refusal: type[Exception], monkeypatch: pytest.MonkeyPatch, invoke: Any, dynamodb: Any, scheduler_entry: Any
) -> None:
    from scheduler_service import store

    raised = refusal(None) if refusal is errors.SchedulerPreconditionFailed else refusal("a refusal")

    def refuse(*_: Any, **__: Any) -> Any:
        raise raised

    monkeypatch.setattr(store, "write_pause", refuse)

    with pytest.raises(refusal) as caught:
        invoke({"is_paused": True, "caller": "pipeline"})

    assert caught.value is raised
    assert stored_item(dynamodb) == scheduler_entry


def test_anything_else_leaves_the_direct_edge_as_scheduler_internal_error(
    monkeypatch: pytest.MonkeyPatch, invoke: Any, dynamodb: Any, scheduler_entry: Any
) -> None:
    from scheduler_service import store

    def fail(*_: Any, **__: Any) -> Any:
        raise KeyError("an internal detail")

    monkeypatch.setattr(store, "write_pause", fail)

    with pytest.raises(errors.SchedulerInternalError) as caught:
        invoke({"is_paused": True, "caller": "pipeline"})

    assert "internal detail" not in str(caught.value)


def test_no_service_error_or_state_shares_a_name_with_the_client_package() -> None:
    import scheduler_client
    from scheduler_service import store

    client_names = set(scheduler_client.__all__)
    service_names = {
        name
        for module in (errors, store)
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__
    }

    assert not service_names & client_names, service_names & client_names
