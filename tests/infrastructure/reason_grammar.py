"""The Scheduler-Reason header's grammar, derived from the contract's rule (scheduler_contract.reasons): one unit
a character, printable ASCII but ``%`` as itself, or the percent-encoded UTF-8 of a character the rule allows.
openapi.yaml carries the pattern this makes; tests/infrastructure/test_openapi_reason_grammar.py holds the two
equal, so the document cannot drift from the service."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from scheduler_contract.reasons import MAX_REASON_LENGTH, REFUSED_CATEGORIES

ENCODINGS = ((0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, 0x10FFFF))


def allowed_ranges() -> list[tuple[int, int]]:
    """The code points from U+0080 on that a reason may hold, as ranges."""
    ranges: list[tuple[int, int]] = []
    start = None
    for point in range(0x80, 0x110000):
        ok = not 0xD800 <= point <= 0xDFFF and unicodedata.category(chr(point)) not in REFUSED_CATEGORIES
        if ok and start is None:
            start = point
        elif not ok and start is not None:
            ranges.append((start, point - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    return ranges


def byte_sequences(low: int, high: int) -> Iterator[list[tuple[int, int]]]:
    """The UTF-8 encodings of the code points low..high, as sequences of byte ranges (the classic split: each
    sequence's bytes vary independently)."""
    for first, last in ENCODINGS:
        lo, hi = max(low, first), min(high, last)
        if lo <= hi:
            yield from _same_length(lo, hi)


def _same_length(low: int, high: int) -> Iterator[list[tuple[int, int]]]:
    for index in range(1, len(chr(low).encode())):
        mask = (1 << (6 * index)) - 1
        if low & ~mask != high & ~mask:
            if low & mask:
                yield from _same_length(low, low | mask)
                yield from _same_length((low | mask) + 1, high)
                return
            if high & mask != mask:
                yield from _same_length(low, (high & ~mask) - 1)
                yield from _same_length(high & ~mask, high)
                return
    yield list(zip(chr(low).encode(), chr(high).encode(), strict=True))


def _hex_digits(low: int, high: int) -> str:
    """A class of the hex digits low..high, either case."""
    digits = [f"{value:X}" for value in range(low, high + 1)]
    numbers = "".join(d for d in digits if d.isdigit())
    letters = "".join(d for d in digits if not d.isdigit())
    parts = [_run(numbers), _run(letters), _run(letters.lower())]
    body = "".join(part for part in parts if part)
    return body if len(digits) == 1 and digits[0].isdigit() else f"[{body}]"


def _run(chars: str) -> str:
    if len(chars) <= 2:
        return chars
    return f"{chars[0]}-{chars[-1]}"  # the digits of a range are consecutive


def _byte(low: int, high: int) -> str:
    (high_low, low_low), (high_high, low_high) = divmod(low, 16), divmod(high, 16)
    if high_low == high_high:
        return "%" + _hex_digits(high_low, high_low) + _hex_digits(low_low, low_high)
    parts = [_hex_digits(high_low, high_low) + _hex_digits(low_low, 15)]
    if high_high - high_low > 1:
        parts.append(_hex_digits(high_low + 1, high_high - 1) + _hex_digits(0, 15))
    parts.append(_hex_digits(high_high, high_high) + _hex_digits(0, low_high))
    return "%(?:" + "|".join(parts) + ")"


def header_pattern() -> str:
    """The whole header: optional white space, at most MAX_REASON_LENGTH units, optional white space."""
    ascii_units = r"[ -$&-~]|%(?:[2-6][0-9A-Fa-f]|7[0-9A-Ea-e])"
    encoded = [
        "".join(_byte(low, high) for low, high in sequence)
        for low, high in allowed_ranges()
        for sequence in byte_sequences(low, high)
    ]
    return rf"^[ \t]*(?:{ascii_units}|{'|'.join(encoded)}){{0,{MAX_REASON_LENGTH}}}[ \t]*$"
