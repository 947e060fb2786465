"""Why a change was made: what a reason may hold, the same for the service, the CLI and the console.

At most 256 characters of one line of plain text: no control characters (Cc, and surrogates, Cs), no format
characters (Cf: invisible ones, and those that change the direction text reads in, such as U+202E), and no
line or paragraph separators (Zl, Zp). A reason is shown to people who must read it as it was written.
"""

from __future__ import annotations

import unicodedata

MAX_REASON_LENGTH = 256  # characters

_REFUSED = {
    "Cc": ("a control character", "one line of text, without tabs or newlines"),
    "Cs": ("a control character", "one line of text, without tabs or newlines"),
    "Cf": ("a format character", "plain text, without invisible or direction-changing characters"),
    "Zl": ("a line separator", "one line of text"),
    "Zp": ("a paragraph separator", "one line of text"),
}
REFUSED_CATEGORIES = frozenset(_REFUSED)


def reason_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a reason, to follow its name in a message ("... holds a format character,
    U+202E: plain text, ..."); None when it may be stored."""
    if len(text) > MAX_REASON_LENGTH:
        return f"is {len(text)} characters long; at most {MAX_REASON_LENGTH} are allowed"
    for char in text:
        refused = _REFUSED.get(unicodedata.category(char))
        if refused is not None:
            kind, rule = refused
            return f"holds {kind}, U+{ord(char):04X}: {rule}"
    return None
