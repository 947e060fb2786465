"""The validators of HTTP (RFC 9110 section 8.8): entity tags and modification dates, and what the conditional
headers ask of them. Pure: nothing here does I/O; the store turns the same rules into a condition of its one
write.

An entity tag names exactly one representation. Its grammar is the contract's (``scheduler_contract.tags``,
shared with the client), ``"<version>.<p|r>.<incarnation>"``: a re-created entry never reuses an old one's
tags, and a change by hand that leaves the version alone still changes the tag. A tag of any other form (the
old bare versions such as "7" among them) names nothing served now: it never matches, so a client holding
one gets the full answer (If-None-Match) or a 412 (If-Match), never a wrong 304.

``Last-Modified`` is whole seconds, but writes are not: two writes can fall in one second. So a date is sent
only as a validator that cannot miss a later write: the first whole second after the write, once that second
has passed (any later write comes after the answer, so after the date); while it has not, the write's own
second, which the comparisons below treat as "possibly modified" (a 200 or a 412, never a wrong 304).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime  # botocore has them loaded already
from typing import NamedTuple

from scheduler_contract.tags import Tag, entity_tag_list, parse_opaque

# A real client names one tag; each named tag is three comparisons in the write's condition (4 KB at most).
MAX_TAGS = 16
MAX_TIME_LENGTH = 64  # a stored time or a header date longer than this is no time
CANONICAL_TIME_LENGTH = len("2026-12-01T08:00:00.000+00:00")
UTC_SUFFIX = "+00:00"


def entity_tags(header: str) -> list[tuple[bool, Tag | None]]:
    """A list of entity tags, split: (weak, the tag it names or None) for each quoted one; text that is not an
    entity tag is left out (RFC 9110 section 13.1.1: it matches nothing)."""
    return [(weak, parse_opaque(opaque)) for weak, opaque in entity_tag_list(header)]


def newest(tags: set[Tag]) -> tuple[Tag, ...]:
    """At most MAX_TAGS of them, the newest kept (a client naming more is not a real one)."""
    return tuple(sorted(tags, key=lambda tag: (tag.incarnation or "", tag.version))[-MAX_TAGS:])


class Preconditions(NamedTuple):
    """A request's conditional headers, as RFC 9110 section 13.2.2 lets them count.

    ``match``: the tags If-Match accepts (None when absent or ``*``: any existing entry); empty when it named
    none this service could have made, and then it fails without asking the store. ``unmodified_since``
    counts only without If-Match; ``modified_since`` only without If-None-Match, and only for GET and HEAD.
    """

    match: tuple[Tag, ...] | None = None
    unmodified_since: datetime | None = None
    none_match: tuple[Tag, ...] = ()
    none_match_any: bool = False
    modified_since: datetime | None = None

    @property
    def unsatisfiable(self) -> bool:
        return self.match == ()


def parse_if_match(header: str) -> tuple[Tag, ...] | None:
    """The tags an If-Match value accepts; None for ``*``. Weak tags never match under its strong comparison."""
    if header.strip() == "*":
        return None
    return newest({tag for weak, tag in entity_tags(header) if not weak and tag is not None})


def parse_preconditions(
    *,
    if_match: str | None = None,
    if_unmodified_since: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> Preconditions:
    """Read the four conditional headers; a date that is not an HTTP date is ignored, as RFC 9110 says."""
    none_match_any = if_none_match is not None and if_none_match.strip() == "*"
    none_match: tuple[Tag, ...] = ()
    if if_none_match is not None and not none_match_any:
        # Weak comparison: W/"8.p.x" names the same representation as "8.p.x".
        none_match = newest({tag for _, tag in entity_tags(if_none_match) if tag is not None})
    return Preconditions(
        match=parse_if_match(if_match) if if_match is not None else None,
        unmodified_since=http_date_of(if_unmodified_since) if if_match is None else None,
        none_match=none_match,
        none_match_any=none_match_any,
        modified_since=http_date_of(if_modified_since) if if_none_match is None else None,
    )


def read_outcome(preconditions: Preconditions, current: Tag, updated_at: datetime | None) -> int:
    """The status a GET or HEAD answers for the current representation: 200, 304 (not modified) or 412.
    ``updated_at`` is the write's exact time (None when unknown): a date validator holds only when the write
    came strictly before it."""
    if preconditions.match is not None:
        if current not in preconditions.match:
            return 412
    elif preconditions.unmodified_since is not None and not written_before(updated_at, preconditions.unmodified_since):
        return 412
    if preconditions.none_match_any or current in preconditions.none_match:
        return 304
    if (
        preconditions.modified_since is not None  # parse_preconditions leaves it out under If-None-Match
        and updated_at is not None
        and written_before(updated_at, preconditions.modified_since)
    ):
        return 304
    return 200


def written_before(updated_at: datetime | None, date: datetime) -> bool:
    """True when the write is strictly older than ``date``; an unknown write time is never "not modified"
    but never blocks a write either (RFC 9110 section 13.1.4 asks only that it not be more recent)."""
    return updated_at is None or updated_at < date


def last_modified(updated_at: datetime | None, now: datetime) -> datetime | None:
    """The Last-Modified to send for a write at ``updated_at``, answered at ``now`` (see the module's text):
    the next whole second once it has passed, else the write's own second; None when the time is unknown."""
    if updated_at is None:
        return None
    second = updated_at.replace(microsecond=0)
    try:
        after = second + timedelta(seconds=1)
    except OverflowError:  # a time written by hand at the calendar's last second: no later one exists
        return second
    return after if after <= now else second


def iso_time(text: str | None) -> datetime | None:
    """An aware UTC time from an ISO 8601 ``updated_at`` (any zone, as a hand repair may write it); None when
    absent, malformed, without a zone, or outside the calendar once in UTC."""
    if not text or len(text) > MAX_TIME_LENGTH:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def validator_time(text: str | None) -> datetime | None:
    """The stored time as a date validator compares it: only in the form this service writes (``store``:
    UTC to the millisecond, 29 characters, ``+00:00``), which also compares as text inside the write's
    condition (``store._precondition_expression``), so GET and PATCH judge the same instants. A time in any
    other form (written by hand) is unknown: it never answers 304, and never blocks a write."""
    if not text or len(text) != CANONICAL_TIME_LENGTH or UTC_SUFFIX not in text:
        return None
    return iso_time(text)


def format_http_date(moment: datetime) -> str:
    """IMF-fixdate (RFC 9110 section 5.6.7), always in English and GMT whatever the machine's locale and zone."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def http_date_of(value: str | None) -> datetime | None:
    """An HTTP date header as an aware UTC time; None (ignored, as RFC 9110 section 13.1.3 says) when absent,
    longer than any date, not in GMT (an HTTP-date always is: "-2359" is no HTTP-date), or one no calendar
    holds."""
    if value is None or len(value) > MAX_TIME_LENGTH:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
        if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
            return None
        return moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
