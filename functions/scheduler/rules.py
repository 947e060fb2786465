"""The rules: what a valid update of the scheduler is, and what its version tags look like.

Shared by every edge (API Gateway, direct invocation), so a request is judged the same way however it
arrives. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ALLOWED_FIELDS = ("is_paused",)
MAX_BODY_BYTES = 1024  # the largest valid body is ~20 bytes; anything near this is not a real client
MAX_VERSION_DIGITS = 18  # far beyond any real count of writes, well inside DynamoDB's 38-digit numbers
MAX_IF_MATCH_VERSIONS = 100


class InvalidSchedulerUpdate(Exception):
    """The update is not acceptable. The message says why in words a client can act on."""


@dataclass(frozen=True)
class SchedulerUpdate:
    is_paused: bool


def parse_json_body(body: bytes) -> Any:
    """Decode a request body: UTF-8 JSON, at most MAX_BODY_BYTES, no duplicate keys, no NaN/Infinity."""
    if not body.strip():
        raise InvalidSchedulerUpdate('The request body is empty: send a JSON object such as {"is_paused": true}.')
    if len(body) > MAX_BODY_BYTES:
        raise InvalidSchedulerUpdate(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSchedulerUpdate("The request body is not UTF-8 text.") from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except ValueError as error:  # JSONDecodeError is a ValueError; so are the hooks' rejections
        raise InvalidSchedulerUpdate(f"The request body is not valid JSON: {error}.") from None


def parse_update(fields: Any) -> SchedulerUpdate:
    """Judge decoded fields: a JSON object whose only key is is_paused, holding a boolean."""
    if not isinstance(fields, dict):
        raise InvalidSchedulerUpdate(
            f'The request body must be a JSON object, not {_json_type(fields)}: send {{"is_paused": true}}.'
        )
    unexpected = [name for name in fields if name not in ALLOWED_FIELDS]
    if unexpected:
        listed = ", ".join(json.dumps(name) for name in unexpected)
        noun = "field" if len(unexpected) == 1 else "fields"
        raise InvalidSchedulerUpdate(f'Unexpected {noun}: {listed}. The only field that can be updated is "is_paused".')
    if not fields:
        raise InvalidSchedulerUpdate('No fields were specified. The only field that can be updated is "is_paused".')
    is_paused = fields["is_paused"]
    if not isinstance(is_paused, bool):
        raise InvalidSchedulerUpdate(f'Field "is_paused" must be true or false, not {_json_type(is_paused)}.')
    return SchedulerUpdate(is_paused=is_paused)


def etag_for(version: int) -> str:
    """The strong entity tag of a version, quoted as HTTP wants it."""
    return f'"{version}"'


def parse_if_match(header: str) -> tuple[int, ...] | None:
    """The versions an If-Match value accepts; None for ``*`` (any existing entry).

    Weak tags never match under If-Match's strong comparison, and text that is not an entity tag matches
    nothing (RFC 9110 section 13.1.1). A value with no tag a version could equal yields an empty tuple: the
    precondition fails without asking the store.
    """
    header = header.strip()
    if header == "*":
        return None
    versions = {version for weak, version in _entity_tags(header) if not weak and version is not None}
    # DynamoDB's IN takes at most 100 operands; a real client names one. The newest are the likeliest.
    return tuple(sorted(versions)[-MAX_IF_MATCH_VERSIONS:])


def if_none_match_hits(header: str, version: int) -> bool:
    """True when an If-None-Match value names this version (weak comparison) or is ``*``. A value that is
    not an entity tag names no version, so the full answer follows."""
    header = header.strip()
    if header == "*":
        return True
    return any(tag_version == version for _, tag_version in _entity_tags(header))


def _entity_tags(header: str) -> list[tuple[bool, int | None]]:
    """Split a list of entity tags into (weak, version-or-None); a tag of another form yields no version."""
    tags: list[tuple[bool, int | None]] = []
    for raw in header.split(","):
        tag = raw.strip()
        weak = tag.startswith("W/")
        opaque = tag[2:] if weak else tag
        if len(opaque) < 2 or opaque[0] != '"' or opaque[-1] != '"':
            continue
        tags.append((weak, _version_of(opaque[1:-1])))
    return tags


def _version_of(opaque: str) -> int | None:
    """The version an entity tag names, if it is one etag_for could have made (ETags compare as strings,
    so "07" is not "7"); None for anything else."""
    if not (opaque.isascii() and opaque.isdigit()) or len(opaque) > MAX_VERSION_DIGITS:
        return None
    if opaque != "0" and opaque.startswith("0"):
        return None
    return int(opaque)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"field {json.dumps(key)} appears more than once")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
