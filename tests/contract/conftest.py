"""The protocol's own files (docs/protocol/), as a node author in another language reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol"


def protocol_file(name: str) -> Any:
    return json.loads((PROTOCOL / name).read_text())


@pytest.fixture(scope="session")
def message_schema() -> Any:
    """A validator of docs/protocol/push-message.schema.json, formats checked."""
    from jsonschema import Draft202012Validator

    schema = protocol_file("push-message.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
