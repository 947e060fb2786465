"""The store: the one scheduler item in DynamoDB.

Every read is one strongly consistent ``GetItem``; every change is one conditional ``UpdateItem`` that
returns the new item (a maintenance window's open and close read first: they must see the leases). Nothing
here knows about HTTP or Step Functions.

The item::

    pk                  "scheduler"        the one and only key
    is_paused           BOOL               the switch
    version             N                  +1 on every accepted change (the ETag); absent counts as 0
    updated_at          S                  ISO 8601 UTC time of the last change
    updated_by          S                  who made the last change
    previous_is_paused  BOOL               the switch before the last change (tells a change from a repeat)
    write_token         S                  the idempotency token of the last change: its retry is its success
    write_request       S                  the Lambda request that made the last change
    leases              M                  maintenance windows holding the pause: {window: expiry epoch s}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import rules
from errors import IdempotencyKeyReused, SchedulerEntryMissing, SchedulerPreconditionFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

SCHEDULER_KEY = {"pk": {"S": "scheduler"}}
WINDOW_WRITE_ATTEMPTS = 5  # a window's read-then-write, against other writers in between

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


class CorruptSchedulerEntry(Exception):
    """The item exists but does not have the shape this service writes."""


class EntryContended(Exception):
    """Other writers changed the item between a window's read and its write, every time it tried."""


@dataclass(frozen=True)
class WriteRequest:
    """Who writes, and the token that makes a retry of the same write its own success.

    ``token`` is stored on the item by the write itself; a retry whose condition fails on an item carrying the
    same token finds its write already done. ``request_id`` is the Lambda request: it tells a retry inside this
    invocation (whose first answer was lost before anything was logged) from a replay of an earlier invocation.
    """

    actor: str
    token: str
    request_id: str


@dataclass(frozen=True)
class Entry:
    """What the item says, as the service uses it."""

    is_paused: bool
    version: int
    updated_at: str | None = None
    updated_by: str | None = None
    previous_is_paused: bool | None = None
    write_token: str | None = None
    write_request: str | None = None
    leases: dict[str, int] = field(default_factory=dict)
    # True when this answer replays a write an earlier invocation made (same token): already logged there.
    replayed: bool = False

    @property
    def changed_pause(self) -> bool:
        """True when the last change flipped the switch (not when it repeated the same value)."""
        return self.previous_is_paused is not None and self.previous_is_paused != self.is_paused


@dataclass(frozen=True)
class WindowResult:
    """A maintenance window's open or close: what it did, and the state it left."""

    outcome: str
    state: Entry
    lease_expires_at: int | None = None


@cache
def _botocore_session() -> Any:
    """One botocore session per container: it holds the loaded service model, so a new client is cheap."""
    import botocore.session

    return botocore.session.get_session()


@cache
def dynamodb_client() -> DynamoDBClient:
    """One client per container. botocore alone (not boto3) keeps the cold start lean; it honours
    AWS_ENDPOINT_URL_DYNAMODB and the other standard settings by itself."""
    from botocore.config import Config

    return cast("DynamoDBClient", _botocore_session().create_client("dynamodb", config=Config(**_CLIENT_TIMEOUTS)))


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def read_state(table: str | None = None) -> Entry:
    """One strongly consistent read of the item; of another table's (one this stack replaced) when named."""
    response = dynamodb_client().get_item(TableName=table or table_name(), Key=SCHEDULER_KEY, ConsistentRead=True)
    item = response.get("Item")
    if item is None:
        raise SchedulerEntryMissing
    return _state_from_item(item)


# Every change writes these; previous_is_paused keeps the old switch (NULL when an entry restored by hand
# had none: a repair is not a flip).
_CHANGE = (
    "SET previous_is_paused = if_not_exists(is_paused, :unknown), is_paused = :paused, updated_at = :now, "
    "updated_by = :actor, write_token = :token, write_request = :request"
)
_NOT_THIS_WRITE = "attribute_exists(pk) AND (attribute_not_exists(write_token) OR write_token <> :token)"


NO_PRECONDITIONS = rules.Preconditions()


def write_pause(is_paused: bool, write: WriteRequest, preconditions: rules.Preconditions = NO_PRECONDITIONS) -> Entry:
    """Set the switch in one conditional write and return the new state.

    The write happens only if the item exists and the preconditions hold. It clears every maintenance
    window's lease: a hand's change overrides the windows. A retry of a write that landed (same token) is
    answered as that write's success; which condition failed otherwise is told from the same call.
    """
    if preconditions.unsatisfiable:
        raise SchedulerPreconditionFailed(None)  # nothing could match: no round trip for a write that cannot happen
    values: dict[str, Any] = {":paused": {"BOOL": is_paused}, **_change_values(write)}
    condition = _NOT_THIS_WRITE + _precondition_expression(preconditions, values)
    old, new = _update(f"{_CHANGE} REMOVE leases ADD #version :one", condition, values, write)
    if new is not None:
        return new
    if old.is_paused != is_paused:
        raise IdempotencyKeyReused("This idempotency key was already used for a different update.")
    return old


def open_window(window: str, *, wait_seconds: int, write: WriteRequest) -> WindowResult:
    """Pause for a maintenance window under its lease (rules.plan_open): read, then a write conditional on
    the version read, again after a conflicting writer, a bounded number of times."""
    now = clock()
    expires_at = int(now.timestamp()) + wait_seconds + rules.LEASE_GRACE_SECONDS

    def plan(state: Entry) -> rules.LeasePlan:
        return rules.plan_open(
            window, is_paused=state.is_paused, leases=state.leases, now=int(now.timestamp()), expires_at=expires_at
        )

    def replayed(state: Entry) -> str:
        return "paused" if state.changed_pause else "joined"

    outcome, state = _apply_window_plan(plan, replayed, write)
    return WindowResult(outcome, state, state.leases.get(window))


def close_window(window: str, *, write: WriteRequest) -> WindowResult:
    """End a maintenance window (rules.plan_close): resume only when no other lease holds the pause and no
    hand changed the switch meanwhile."""
    now = int(clock().timestamp())

    def plan(state: Entry) -> rules.LeasePlan:
        return rules.plan_close(window, is_paused=state.is_paused, leases=state.leases, now=now)

    def replayed(state: Entry) -> str:
        return "held_by_other_window" if state.is_paused else "resumed"

    outcome, state = _apply_window_plan(plan, replayed, write)
    return WindowResult(outcome, state)


def _apply_window_plan(
    plan_for: Callable[[Entry], rules.LeasePlan],
    replayed_outcome: Callable[[Entry], str],
    write: WriteRequest,
) -> tuple[str, Entry]:
    """Read, plan, write conditionally on the version read; a replay of this very step (same token) is told
    from the item it left, since no one wrote after it."""
    for _ in range(WINDOW_WRITE_ATTEMPTS):
        state = read_state()
        if state.write_token == write.token:  # this very step ran before and its answer was lost
            return replayed_outcome(state), replace(state, replayed=state.write_request != write.request_id)
        plan = plan_for(state)
        if plan.is_paused is None:
            return plan.outcome, state
        values: dict[str, Any] = {
            ":paused": {"BOOL": plan.is_paused},
            ":read_version": {"N": str(state.version)},
            **_change_values(write),
        }
        condition = _NOT_THIS_WRITE + " AND " + _version_is(":read_version", state.version)
        if plan.leases:
            values[":leases"] = {"M": {holder: {"N": str(expiry)} for holder, expiry in plan.leases.items()}}
            expression = f"{_CHANGE}, leases = :leases ADD #version :one"
        else:
            expression = f"{_CHANGE} REMOVE leases ADD #version :one"
        try:
            old, new = _update(expression, condition, values, write)
        except SchedulerPreconditionFailed:
            continue  # someone wrote between the read and the write: plan again on what they left
        if new is None:
            return replayed_outcome(old), old
        return plan.outcome, new
    raise EntryContended(f"the scheduler entry changed under the window {WINDOW_WRITE_ATTEMPTS} times")


def _update(expression: str, condition: str, values: dict[str, Any], write: WriteRequest) -> tuple[Entry, Entry | None]:
    """One conditional UpdateItem: (old, new) on success, (old, None) when this write had already landed.
    Raises SchedulerEntryMissing or SchedulerPreconditionFailed when the condition failed for another reason."""
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
        current = _state_from_item(item)
        if current.write_token == write.token:
            # Our own write, retried after its answer was lost (botocore, Step Functions, an HTTP client).
            return replace(current, replayed=current.write_request != write.request_id), None
        raise SchedulerPreconditionFailed(current) from error
    new = _state_from_item(response["Attributes"])
    return new, new


def _change_values(write: WriteRequest) -> dict[str, Any]:
    return {
        ":unknown": {"NULL": True},
        ":one": {"N": "1"},
        ":now": {"S": _now()},
        ":actor": {"S": write.actor},
        ":token": {"S": write.token},
        ":request": {"S": write.request_id},
    }


def _precondition_expression(preconditions: rules.Preconditions, values: dict[str, Any]) -> str:
    """The preconditions as a condition on the stored item (an entry restored by hand without a version is
    version 0, the ETag it is served with)."""
    condition = ""
    if preconditions.match is not None:
        condition += " AND " + _version_in(":match", preconditions.match, values)
    elif preconditions.unmodified_since is not None:
        # ISO 8601 times of one format compare as strings; Last-Modified is updated_at to the second.
        limit = rules.unmodified_limit(preconditions.unmodified_since)
        values[":unmodified_limit"] = {"S": limit.astimezone(UTC).isoformat(timespec="milliseconds")}
        condition += " AND (attribute_not_exists(updated_at) OR updated_at < :unmodified_limit)"
    if preconditions.none_match_any:
        condition += " AND attribute_not_exists(pk)"  # the entry exists (or this is a 500): always 412
    elif preconditions.none_match:
        condition += " AND NOT " + _version_in(":none_match", preconditions.none_match, values)
    return condition


def _version_in(prefix: str, versions: tuple[int, ...], values: dict[str, Any]) -> str:
    names = [f"{prefix}{index}" for index in range(len(versions))]
    values.update({name: {"N": str(version)} for name, version in zip(names, versions, strict=True)})
    listed = f"#version IN ({', '.join(names)})"
    return f"(attribute_not_exists(#version) OR {listed})" if 0 in versions else f"({listed})"


def _version_is(name: str, version: int) -> str:
    return f"(attribute_not_exists(#version) OR #version = {name})" if version == 0 else f"#version = {name}"


def create_if_missing(
    *, actor: str, token: str | None = None, is_paused: bool = False, version: int = 1, table: str | None = None
) -> bool:
    """Create the entry (not paused, version 1, unless told otherwise) unless it exists. Never overwrites.
    True if it created it; with a ``token``, also when a retry finds the entry its own earlier attempt made."""
    client = dynamodb_client()
    item: dict[str, Any] = {
        **SCHEDULER_KEY,
        "is_paused": {"BOOL": is_paused},
        "version": {"N": str(version)},
        "updated_at": {"S": _now()},
        "updated_by": {"S": actor},
    }
    if token is not None:
        item["write_token"] = {"S": token}
    try:
        client.put_item(
            TableName=table or table_name(),
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        existing: Any = error.response.get("Item") or {}
        return token is not None and existing.get("write_token", {}).get("S") == token
    return True


def _state_from_item(item: dict[str, Any]) -> Entry:
    try:
        is_paused = item["is_paused"]["BOOL"]
        version = int(item.get("version", {"N": "0"})["N"])
    except (KeyError, TypeError, ValueError) as error:
        # A switch of another type (S, N, NULL) has no BOOL key: DynamoDB's BOOL is always a boolean.
        raise CorruptSchedulerEntry(f"unexpected item attributes: {_shape(item)}") from error
    previous = item.get("previous_is_paused", {}).get("BOOL")
    leases = {holder: int(value["N"]) for holder, value in item.get("leases", {}).get("M", {}).items() if "N" in value}
    return Entry(
        is_paused=is_paused,
        version=version,
        updated_at=item.get("updated_at", {}).get("S"),
        updated_by=item.get("updated_by", {}).get("S"),
        previous_is_paused=previous if isinstance(previous, bool) else None,
        write_token=item.get("write_token", {}).get("S"),
        write_request=item.get("write_request", {}).get("S"),
        leases=leases,
    )


def _shape(item: dict[str, Any]) -> dict[str, str]:
    """Each attribute's DynamoDB type (not its value): what a log may say of an entry that is not as written."""
    return {name: ",".join(value) for name, value in item.items()}  # DynamoDB gives each value as {type: value}


def _now() -> str:
    return clock().astimezone(UTC).isoformat(timespec="milliseconds")
