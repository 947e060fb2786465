"""JSON read by a parser that trusts nothing: every reader of outside input in this contract goes through it.

RFC 8259 leaves duplicate keys to the reader; two readers of one document could then disagree, so a key twice is
refused. ``NaN`` and ``Infinity`` are not JSON and are refused. Nesting deeper than the interpreter's stack is
refused as well (``RecursionError`` on Python 3.11), so a caller catches one exception, ``ValueError``.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str) -> Any:
    """The document ``text`` holds; ValueError for anything that is not one plain JSON document."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"field {json.dumps(key)} appears more than once")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
