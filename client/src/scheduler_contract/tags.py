"""Entity tags: their grammar, their parsing, and the order of the states they name (docs/protocol.md).

A tag names exactly one state of the switch: the entry's incarnation (set when the entry is created, so a
re-created entry never reuses an old one's tags), its version (+1 on every accepted write) and the value::

    "<version>.<p|r>.<incarnation>"     e.g. "8.p.mk3x0a9z7q2c"   (p: paused, r: running)
    "<version>.<p|r>"                   an entry restored by hand without an incarnation

``<version>`` is decimal, at most 18 digits, without leading zeros; ``<incarnation>`` is 1 to 32 characters
of ``0-9a-z``. Text of any other form names no state.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_VERSION_DIGITS = 18  # far beyond any real count of writes, well inside DynamoDB's 38-digit numbers
MAX_INCARNATION_LENGTH = 32
INCARNATION_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# The longest opaque tag the grammar allows; anything longer is refused before it is split.
MAX_OPAQUE_LENGTH = MAX_VERSION_DIGITS + 3 + MAX_INCARNATION_LENGTH


class Tag(NamedTuple):
    """What an entity tag says. Two tags name the same state when all three parts are equal."""

    version: int
    is_paused: bool
    incarnation: str | None = None

    @property
    def opaque(self) -> str:
        """The tag without its quotes: ``8.p.mk3x0a9z7q2c``."""
        state = "p" if self.is_paused else "r"
        return f"{self.version}.{state}.{self.incarnation}" if self.incarnation else f"{self.version}.{state}"

    def __str__(self) -> str:
        """The tag as HTTP and the push message carry it: quoted, strong."""
        return f'"{self.opaque}"'


def parse_opaque(opaque: str) -> Tag | None:
    """The tag an opaque value (without its quotes) names; None for text of any other form."""
    if len(opaque) > MAX_OPAQUE_LENGTH:
        return None
    parts = opaque.split(".")
    if len(parts) not in (2, 3) or parts[1] not in ("p", "r"):
        return None
    version = parts[0]
    incarnation = parts[2] if len(parts) == 3 else None
    if not (version.isascii() and version.isdigit()) or len(version) > MAX_VERSION_DIGITS:
        return None
    if version != "0" and version.startswith("0"):
        return None  # one state, one tag: "07.p" was never made
    if incarnation is not None and not is_incarnation(incarnation):
        return None
    return Tag(version=int(version), is_paused=parts[1] == "p", incarnation=incarnation)


def entity_tag_list(header: str) -> list[tuple[bool, str]]:
    """An If-Match or If-None-Match list (RFC 9110 section 8.8.3), split: (weak, the opaque text between the
    quotes) for each entity tag in it; a member that is not an entity tag is left out (it matches nothing)."""
    listed: list[tuple[bool, str]] = []
    for member in header.split(","):
        tag = member.strip()
        weak = tag.startswith("W/")
        quoted = tag[2:] if weak else tag
        if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            continue
        listed.append((weak, quoted[1:-1]))
    return listed


def is_incarnation(text: str) -> bool:
    return 0 < len(text) <= MAX_INCARNATION_LENGTH and all(char in INCARNATION_ALPHABET for char in text)


def opaque_of(etag: str | None) -> str | None:
    """The quoted part of an entity tag, weak or strong (``W/"7.p"`` and ``"7.p"`` give ``7.p``); None for text
    that is not an entity tag."""
    if etag is None:
        return None
    tag = etag.strip().removeprefix("W/")
    return tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else None


def parse_etag(etag: str | None) -> Tag | None:
    """The tag a strong entity tag (``"8.p.mk3x0a9z7q2c"``, quotes included) names; None for anything else,
    a weak tag among them."""
    if etag is None or len(etag) < 2 or etag[0] != '"' or etag[-1] != '"':
        return None
    return parse_opaque(etag[1:-1])


def supersedes(incoming: Tag, held: Tag) -> bool:
    """True when ``incoming`` names a newer state of the switch than ``held``: the order in which nodes apply
    what they are given (docs/protocol.md, Ordering; the vectors in docs/protocol/ordering-vectors.json).

    - A later incarnation is a re-created entry: newer whatever its version. An incarnation appearing or going
      (an entry restored by hand, or the first write after one) is newer too.
    - Within one incarnation, the higher version is newer.
    - At the same version, another value is a change by hand that left the version alone: newer only when it
      pauses (when in doubt, paused).
    """
    if incoming == held:
        return False
    if incoming.incarnation != held.incarnation:
        if incoming.incarnation is None or held.incarnation is None:
            return True
        # Incarnations compare as text: each starts with its creation time in 8 base-36 digits.
        return incoming.incarnation > held.incarnation
    if incoming.version != held.version:
        return incoming.version > held.version
    return incoming.is_paused
