"""The store: the one scheduler item in DynamoDB.

Every read is one strongly consistent ``GetItem``; every change is one conditional ``UpdateItem`` that
returns the new item (a maintenance window's open and close read first: they must see the leases). Nothing
here knows about HTTP or Step Functions.

The item::

    pk            "scheduler"     the one and only key
    is_paused     BOOL            the switch
    version       N               +1 on every accepted change; absent counts as 0 (an entry restored by hand)
    incarnation   S               set when the entry is created (validators.py): tags never repeat across entries
    updated_at    S               ISO 8601 UTC time of the last change, to the millisecond
    updated_by    S               who made the last change
    leases        M               maintenance windows holding the pause: {window: expiry epoch s}
    w0 .. w7      M               the last RECENT_WRITES changes, newest first: {t: token hash, r: request hash,
                                  p: the value it set, a: its updated_at}
    w0v .. w7v    N               the version each of them made
    w0o .. w7o    BOOL | NULL     the value before each of them (NULL: unknown, an entry restored without one)

The recent writes make retries exact: a write's condition is "the item exists, none of its recent writes is
this one, and the preconditions hold", and a retry that finds its own token among them is answered with the
state that write made, however many writes came after it (up to RECENT_WRITES), still in one round trip.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from botocore.config import Config

from scheduler_contract.convergence import incarnation_millis
from scheduler_contract.tags import INCARNATION_ALPHABET, Tag, is_incarnation
from scheduler_service import aws, validators
from scheduler_service.errors import IdempotencyKeyReused, SchedulerEntryMissing, SchedulerPreconditionFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

SCHEDULER_KEY = {"pk": {"S": "scheduler"}}

# Bounded so that a slow or failing DynamoDB is answered inside the function's 10 s timeout: at most
# 3 attempts x (1 s connect or 1 s read; DynamoDB answers in milliseconds) plus the standard mode's
# backoff between them (at most 1 s, then 2 s): 9 s in the worst case.
_CLIENT_TIMEOUTS: dict[str, Any] = {
    "connect_timeout": 1,
    "read_timeout": 1,
    "retries": {"total_max_attempts": 3, "mode": "standard"},
}

# The clock, in one place so tests can set it.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


# How many changes the item remembers for retries: a retry is recognised while fewer than this many other
# writes came after it (a client's retries end within seconds; the item stays under 1 KB).
RECENT_WRITES = 8


class CorruptSchedulerEntry(Exception):
    """The item exists but does not have the shape this service writes."""


class WriteRequest(NamedTuple):
    """Who writes, and the token that makes a retry of the same write its own success.

    ``token`` names the logical write (an Idempotency-Key, a state's entry, a Lambda request); its hash is kept
    among the item's recent writes. ``request_id`` is the Lambda request: it tells a retry inside this
    invocation (whose first answer was lost before anything was logged) from a replay of an earlier invocation.
    """

    actor: str
    token: str
    request_id: str
    reason: str = ""  # why; stored with the change ("" for none given), never a stale reason of an earlier one


class RecentWrite(NamedTuple):
    """One of the item's recent changes: enough to answer its retry with the state it made."""

    token: str  # hash of the write's token
    request: str  # hash of the Lambda request that made it
    is_paused: bool
    version: int
    updated_at: str | None
    previous_is_paused: bool | None


class Entry(NamedTuple):
    """What the item says, as the service uses it."""

    is_paused: bool
    version: int
    incarnation: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    reason: str | None = None
    previous_is_paused: bool | None = None
    leases: Mapping[str, int] = MappingProxyType({})  # never mutated: one empty default for all
    recent: tuple[RecentWrite, ...] = ()
    # True when this answer replays a write an earlier invocation made (same token): already logged there.
    replayed: bool = False

    @property
    def tag(self) -> Tag:
        return Tag(version=self.version, is_paused=self.is_paused, incarnation=self.incarnation)

    @property
    def etag(self) -> str:
        return str(self.tag)

    @property
    def changed_pause(self) -> bool:
        """True when the last change flipped the switch (not when it repeated the same value)."""
        return self.previous_is_paused is not None and self.previous_is_paused != self.is_paused

    def recent_write(self, token: str) -> RecentWrite | None:
        hashed = token_hash(token)
        return next((write for write in self.recent if write.token == hashed), None)

    def as_written_by(self, write: RecentWrite, request_id: str) -> Entry:
        """The state ``write`` made, as its retry is answered (later writes may have changed the item since)."""
        return self._replace(
            is_paused=write.is_paused,
            version=write.version,
            updated_at=write.updated_at,
            previous_is_paused=write.previous_is_paused,
            replayed=write.request != request_hash(request_id),
        )


def token_hash(token: str) -> str:
    """What the item keeps of a write's token: 96 bits of its SHA-256 (tokens may hold a caller's ARN)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:24]


def request_hash(request_id: str) -> str:
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()[:12]


@cache
def dynamodb_client() -> DynamoDBClient:
    """One client per container. botocore alone (not boto3) keeps the cold start lean; it honours
    AWS_ENDPOINT_URL_DYNAMODB and the other standard settings by itself."""
    return cast("DynamoDBClient", aws.botocore_session().create_client("dynamodb", config=Config(**_CLIENT_TIMEOUTS)))


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def read_state(table: str | None = None) -> Entry:
    """One strongly consistent read of the item; of another table's (one this stack replaced) when named."""
    response = dynamodb_client().get_item(TableName=table or table_name(), Key=SCHEDULER_KEY, ConsistentRead=True)
    item = response.get("Item")
    if item is None:
        raise SchedulerEntryMissing
    return entry_from_item(item)


NO_PRECONDITIONS = validators.Preconditions()


def write_pause(
    is_paused: bool, write: WriteRequest, preconditions: validators.Preconditions = NO_PRECONDITIONS
) -> Entry:
    """Set the switch in one conditional write and return the new state.

    The write happens only if the item exists, none of its recent writes is this one, and the preconditions
    hold. It clears every maintenance window's lease: a hand's change overrides the windows. A retry of a write
    that landed (same token) is answered as that write's success; which condition failed otherwise is told
    from the same call.
    """
    if preconditions.unsatisfiable:
        raise SchedulerPreconditionFailed(None)  # nothing could match: no round trip for a write that cannot happen
    values: dict[str, Any] = {":paused": {"BOOL": is_paused}, **_change_values(write, is_paused)}
    condition = _not_a_recent_write() + _precondition_expression(preconditions, values)
    try:
        return _update(_change_expression() + " REMOVE leases", condition, values, write)
    except AlreadyWritten as done:
        if done.write.is_paused != is_paused:
            raise IdempotencyKeyReused("This idempotency key was already used for a different update.") from None
        return done.entry.as_written_by(done.write, write.request_id)


def write_leases(is_paused: bool, leases: Mapping[str, int], write: WriteRequest, *, read_version: int) -> Entry:
    """Set the switch and the maintenance windows' leases in one write, conditional on the version read
    (``windows``: read, plan, write). SchedulerPreconditionFailed when another writer came in between;
    AlreadyWritten when this very write had landed (its answer lost)."""
    values: dict[str, Any] = {
        ":paused": {"BOOL": is_paused},
        ":read_version": {"N": str(read_version)},
        **_change_values(write, is_paused),
    }
    condition = _not_a_recent_write() + " AND " + _version_is(":read_version", read_version)
    if leases:
        values[":leases"] = {"M": {holder: {"N": str(expiry)} for holder, expiry in leases.items()}}
        expression = f"{_change_expression()}, leases = :leases"
    else:
        expression = f"{_change_expression()} REMOVE leases"
    return _update(expression, condition, values, write)


class AlreadyWritten(Exception):  # an outcome, not a failure: the write had landed
    """The condition failed because this very write had already landed (its token is among the recent):
    ``entry`` is the item now, ``write`` the recent write that is this one."""

    def __init__(self, entry: Entry, write: RecentWrite) -> None:
        super().__init__("already written")
        self.entry = entry
        self.write = write


def _update(expression: str, condition: str, values: dict[str, Any], write: WriteRequest | None) -> Entry:
    """One conditional UpdateItem; the new item on success. A failed condition is told apart from what
    DynamoDB returns with it: no item (SchedulerEntryMissing), this write among its recent ones (AlreadyWritten;
    never for a write with no token, such as a heal),
    or another item (SchedulerPreconditionFailed)."""
    client = dynamodb_client()
    try:
        response = client.update_item(
            TableName=table_name(),
            Key=SCHEDULER_KEY,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        item: Any = error.response.get("Item")
        if item is None:
            raise SchedulerEntryMissing from error
        current = entry_from_item(item)
        done = current.recent_write(write.token) if write is not None else None
        if done is not None:
            # Our own write, retried after its answer was lost (botocore, Step Functions, an HTTP client).
            raise AlreadyWritten(current, done) from None
        raise SchedulerPreconditionFailed(current) from error
    return entry_from_item(response["Attributes"])


def _change_expression() -> str:
    """What every change writes: the switch, its time and author, an incarnation if the entry had none, and
    this write at the head of the recent writes (the others shift down one; the oldest falls off)."""
    shifts = []
    for slot in range(RECENT_WRITES - 1, 0, -1):
        before = slot - 1
        shifts.append(
            f"w{slot} = if_not_exists(w{before}, :none), w{slot}v = if_not_exists(w{before}v, :none), "
            f"w{slot}o = if_not_exists(w{before}o, :none)"
        )
    return (
        "SET "
        + ", ".join(shifts)
        + ", w0 = :write, w0v = if_not_exists(#version, :zero) + :one, w0o = if_not_exists(is_paused, :none), "
        "is_paused = :paused, updated_at = :now, updated_by = :actor, reason = :reason, "
        "incarnation = if_not_exists(incarnation, :incarnation), #version = if_not_exists(#version, :zero) + :one"
    )


def _not_a_recent_write() -> str:
    clauses = [f"(attribute_not_exists(w{slot}.t) OR w{slot}.t <> :token)" for slot in range(RECENT_WRITES)]
    return "attribute_exists(pk) AND " + " AND ".join(clauses)


def _change_values(write: WriteRequest, is_paused: bool) -> dict[str, Any]:
    now = _now()
    return {
        ":none": {"NULL": True},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
        ":now": {"S": now},
        ":actor": {"S": write.actor},
        ":reason": {"S": write.reason},
        ":token": {"S": token_hash(write.token)},
        ":incarnation": {"S": new_incarnation(clock())},
        ":write": {"M": _recent_write_map(write, is_paused, now)},
    }


def _recent_write_map(write: WriteRequest, is_paused: bool, now: str) -> dict[str, Any]:
    return {
        "t": {"S": token_hash(write.token)},
        "r": {"S": request_hash(write.request_id)},
        "p": {"BOOL": is_paused},
        "a": {"S": now},
    }


def _precondition_expression(preconditions: validators.Preconditions, values: dict[str, Any]) -> str:
    """The preconditions as a condition on the stored item, compared exactly as the tags say."""
    condition = ""
    if preconditions.match is not None:
        condition += " AND " + _any_tag(":match", preconditions.match, values)
    elif preconditions.unmodified_since is not None:
        # Times in this service's one form compare as strings; the write must be strictly older than the date. A
        # time in another form (written by hand) is unknown, and never blocks a write: validators.validator_time.
        values[":unmodified_since"] = {"S": _iso(preconditions.unmodified_since)}
        values[":time_length"] = {"N": str(validators.CANONICAL_TIME_LENGTH)}
        values[":utc"] = {"S": validators.UTC_SUFFIX}
        condition += (
            " AND (attribute_not_exists(updated_at) OR size(updated_at) <> :time_length"
            " OR NOT contains(updated_at, :utc) OR updated_at < :unmodified_since)"
        )
    if preconditions.none_match_any:
        condition += " AND attribute_not_exists(pk)"  # the entry exists (or this is a 500): always 412
    elif preconditions.none_match:
        condition += " AND NOT " + _any_tag(":none_match", preconditions.none_match, values)
    return condition


def _any_tag(prefix: str, tags: tuple[Tag, ...], values: dict[str, Any]) -> str:
    """True when the item is the representation one of the tags names: its version, value and incarnation."""
    alternatives = []
    for index, tag in enumerate(tags):
        version, paused, incarnation = f"{prefix}{index}v", f"{prefix}{index}p", f"{prefix}{index}i"
        values[version] = {"N": str(tag.version)}
        values[paused] = {"BOOL": tag.is_paused}
        if tag.incarnation is None:
            of_incarnation = "attribute_not_exists(incarnation)"
        else:
            values[incarnation] = {"S": tag.incarnation}
            of_incarnation = f"incarnation = {incarnation}"
        alternatives.append(f"({_version_is(version, tag.version)} AND is_paused = {paused} AND {of_incarnation})")
    # DynamoDB refuses redundant parentheses: one alternative is already a parenthesised group.
    return alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")"


def _version_is(name: str, version: int) -> str:
    return f"(attribute_not_exists(#version) OR #version = {name})" if version == 0 else f"#version = {name}"


def create_if_missing(  # noqa: PLR0913 - keyword-only, each one a property of the entry made
    *,
    actor: str,
    token: str | None = None,
    is_paused: bool = False,
    version: int = 1,
    incarnation: str | None = None,
    table: str | None = None,
) -> bool:
    """Create the entry (not paused, version 1, a new incarnation, unless told otherwise) unless it exists.
    Never overwrites. True if it created it; with a ``token``, also when a retry finds the entry its own
    earlier attempt made."""
    client = dynamodb_client()
    now = _now()
    item: dict[str, Any] = {
        **SCHEDULER_KEY,
        "is_paused": {"BOOL": is_paused},
        "version": {"N": str(version)},
        "incarnation": {"S": incarnation or new_incarnation(clock())},
        "updated_at": {"S": now},
        "updated_by": {"S": actor},
    }
    if token is not None:
        item["w0"] = {"M": _recent_write_map(WriteRequest(actor, token, token), is_paused, now)}
        item["w0v"] = {"N": str(version)}
    try:
        client.put_item(
            TableName=table or table_name(),
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        existing: Any = error.response.get("Item") or {}
        return token is not None and existing.get("w0", {}).get("M", {}).get("t", {}).get("S") == token_hash(token)
    return True


def reincarnate(entry: Entry, *, after: Tag | None = None) -> Entry:
    """Give the entry a new incarnation, later than its own and than ``after``'s (a retained message ahead of it),
    in one write conditional on the entry still being ``entry`` (version, value, incarnation); nothing else
    changes. SchedulerPreconditionFailed when it changed meanwhile, SchedulerEntryMissing when it is gone."""
    not_before = max(
        [clock()]
        + [
            datetime.fromtimestamp((incarnation_millis(tag.incarnation) + 1) / 1000, UTC)
            for tag in (entry.tag, after)
            if tag is not None and tag.incarnation is not None
        ]
    )
    values: dict[str, Any] = {":incarnation": {"S": new_incarnation(not_before)}}
    condition = "attribute_exists(pk) AND " + _any_tag(":held", (entry.tag,), values)
    return _update("SET incarnation = :incarnation", condition, values, None)


def new_incarnation(now: datetime) -> str:
    """A new entry's incarnation: its creation time in milliseconds (8 base-36 digits, so a later entry's sorts
    later, until May 2059, when 36**8 ms have passed and the contract needs a ninth digit) and 4 random base-36
    digits (two entries made in one millisecond differ)."""
    millis = int(now.timestamp() * 1000)
    noise = int.from_bytes(os.urandom(4), "big") % 36**4
    return _base36(millis, 8) + _base36(noise, 4)


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(INCARNATION_ALPHABET[digit])
    return "".join(reversed(digits))


def entry_from_item(item: dict[str, Any]) -> Entry:
    """The entry a DynamoDB item (or a stream record's image) holds."""
    try:
        is_paused = item["is_paused"]["BOOL"]
        version = int(item.get("version", {"N": "0"})["N"])
    except (KeyError, TypeError, ValueError) as error:
        # A switch of another type (S, N, NULL) has no BOOL key: DynamoDB's BOOL is always a boolean.
        raise CorruptSchedulerEntry(f"unexpected item attributes: {_shape(item)}") from error
    incarnation = item.get("incarnation", {}).get("S")
    recent = tuple(write for slot in range(RECENT_WRITES) if (write := _recent_write(item, slot)) is not None)
    leases = {holder: int(value["N"]) for holder, value in item.get("leases", {}).get("M", {}).items() if "N" in value}
    return Entry(
        is_paused=is_paused,
        version=version,
        incarnation=incarnation if isinstance(incarnation, str) and is_incarnation(incarnation) else None,
        updated_at=item.get("updated_at", {}).get("S"),
        updated_by=item.get("updated_by", {}).get("S"),
        reason=item.get("reason", {}).get("S"),
        previous_is_paused=recent[0].previous_is_paused if recent and recent[0].version == version else None,
        leases=leases,
        recent=recent,
    )


def _recent_write(item: dict[str, Any], slot: int) -> RecentWrite | None:
    fields = item.get(f"w{slot}", {}).get("M")
    version = item.get(f"w{slot}v", {}).get("N")
    if not isinstance(fields, dict) or version is None:
        return None
    try:
        return RecentWrite(
            token=fields["t"]["S"],
            request=fields.get("r", {}).get("S", ""),
            is_paused=fields["p"]["BOOL"],
            version=int(version),
            updated_at=fields.get("a", {}).get("S"),
            previous_is_paused=item.get(f"w{slot}o", {}).get("BOOL"),
        )
    except (KeyError, TypeError, ValueError):
        return None  # a slot edited by hand: it answers no retry


def _shape(item: dict[str, Any]) -> dict[str, str]:
    """Each attribute's DynamoDB type (not its value): what a log may say of an entry that is not as written."""
    return {name: ",".join(value) for name, value in item.items()}  # DynamoDB gives each value as {type: value}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _now() -> str:
    return _iso(clock())
