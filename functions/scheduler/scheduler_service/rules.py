"""The rules: what a valid update of the scheduler is (its body, its media type, its idempotency key, its
reason). Entity tags and dates are in ``validators``; how maintenance windows hold the pause, in ``windows``.

Shared by every edge (API Gateway, direct invocation), so a request is judged the same way however it
arrives. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import unquote

from scheduler_contract import strict_json
from scheduler_contract.reasons import reason_problem
from scheduler_service.errors import InvalidSchedulerUpdate
from scheduler_service.validators import iso_time

ALLOWED_FIELDS = ("is_paused",)
MAX_BODY_BYTES = 1024  # the largest valid body is ~20 bytes; anything near this is not a real client
PATCH_MEDIA_TYPES = ("application/json", "application/merge-patch+json")
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class UnsupportedMediaType(Exception):
    """A PATCH body of a media type this service does not parse."""


class SchedulerUpdate(NamedTuple):
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
        return strict_json.loads(text)
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


def check_patch_media_type(content_type: str | None) -> None:
    """Accept JSON (plain or merge-patch: for a one-field object they mean the same) or no Content-Type at all;
    a charset, if named, must be UTF-8 (RFC 8259). Anything else is a 415."""
    if content_type is None or not content_type.strip():
        return
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type not in PATCH_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {json.dumps(media_type)} is not supported: send application/json "
            '(or application/merge-patch+json) such as {"is_paused": true}.'
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"Charset {json.dumps(value.strip())} is not supported: JSON is UTF-8.")


def parse_reason(value: str | None, *, header: bool) -> str:
    """Why a change is made: text the contract allows (``scheduler_contract.reasons``); "" when none is given.
    The header form (``Scheduler-Reason``) is percent-encoded UTF-8 (RFC 3986), so any text survives HTTP's
    Latin-1 headers and SigV4's canonical form; printable ASCII other than ``%`` reads as itself. The header's
    grammar is openapi.yaml's SchedulerReason pattern, and a test holds the two together."""
    if value is None:
        return ""
    name = "The Scheduler-Reason header" if header else 'Field "reason"'
    text = _decoded_header(value.strip(_OPTIONAL_WHITE_SPACE), name) if header else value
    problem = reason_problem(text)
    if problem is not None:
        raise InvalidSchedulerUpdate(f"{name} {problem}.")
    return text


def _decoded_header(value: str, name: str) -> str:
    control = next((char for char in value if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise InvalidSchedulerUpdate(
            f"{name} holds a control character, U+{ord(control):04X}: one line of text, without tabs or newlines."
        )
    # unquote would pass a stray % or raw non-ASCII through; both would make one text readable two ways.
    if not value.isascii() or _STRAY_PERCENT.search(value):
        raise InvalidSchedulerUpdate(
            f"{name} is not percent-encoded UTF-8 text: encode what is not printable ASCII, and % as %25."
        )
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise InvalidSchedulerUpdate(f"{name} is not percent-encoded UTF-8 text.") from None


_OPTIONAL_WHITE_SPACE = " \t"  # RFC 9110 section 5.6.3
_STRAY_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")


def parse_idempotency_key(header: str) -> str:
    """The key of an ``Idempotency-Key`` header (IETF httpapi draft): a structured-field String such as
    ``"8e03978e-40d5"``; a bare token (no quotes, spaces or commas) is accepted too, as many clients send one."""
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        key = _sf_string(value[1:-1])
    elif value and all(0x21 <= ord(char) <= 0x7E and char not in '",;\\' for char in value):
        key = value
    else:
        key = None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidSchedulerUpdate(
            f"Idempotency-Key must be a quoted string of 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII "
            'characters, such as "8e03978e-40d5-43e8-bc93-6894a57f9324".'
        )
    return key


def _sf_string(inner: str) -> str | None:
    """The content of an RFC 8941 String (without its quotes); None if it is not one."""
    out: list[str] = []
    escaped = False
    for char in inner:
        if not 0x20 <= ord(char) <= 0x7E:
            return None
        if escaped:
            if char not in '"\\':
                return None
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def paused_seconds(is_paused: bool, updated_at: str | None, now: datetime) -> float:
    """How long the switch has been paused: since the last write that paused it (a repeated pause is
    someone confirming it, and restarts the count); 0 when it is not paused. A pause whose time is unknown
    (an entry restored by hand) counts from the epoch: too long, so the alarm asks someone to look."""
    if not is_paused:
        return 0.0
    since = iso_time(updated_at) or datetime.fromtimestamp(0, UTC)
    return max(0.0, round((now - since).total_seconds(), 3))


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
