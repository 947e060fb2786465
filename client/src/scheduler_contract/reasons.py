"""Why a change was made: what a reason may hold, the same for the service, the CLI and the console."""

from __future__ import annotations

import unicodedata

MAX_REASON_LENGTH = 256  # characters


def reason_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a reason, to follow its name in a message ("... is 300 characters long;
    at most 256 are allowed"); None when it may be stored."""
    if len(text) > MAX_REASON_LENGTH:
        return f"is {len(text)} characters long; at most {MAX_REASON_LENGTH} are allowed"
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        return "holds a control character: one line of text, without tabs or newlines"
    return None
