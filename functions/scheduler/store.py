"""The store: the one scheduler item in DynamoDB.

Every read is one strongly consistent ``GetItem``; every change is one conditional ``UpdateItem`` that
returns the new item. Nothing here knows about HTTP or Step Functions.

The item::

    pk                  "scheduler"        the one and only key
    is_paused           BOOL               the switch
    version             N                  +1 on every accepted change (the ETag)
    updated_at          S                  ISO 8601 UTC time of the last change
    updated_by          S                  who made the last change
    previous_is_paused  BOOL               the switch before the last change (tells a change from a repeat)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

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


class SchedulerEntryMissing(Exception):
    """The one scheduler item does not exist (or the table does not)."""


class PreconditionFailed(Exception):
    """The item's version is not one the caller expected; nothing was written. ``current`` is the item as
    DynamoDB returned it, or None when no version could match and DynamoDB was not asked."""

    def __init__(self, current: SchedulerState | None) -> None:
        super().__init__(
            f"the scheduler is at version {current.version}" if current else "no version of the scheduler was named"
        )
        self.current = current


class CorruptSchedulerEntry(Exception):
    """The item exists but does not have the shape this service writes."""


@dataclass(frozen=True)
class SchedulerState:
    """What the item says, as the service uses it."""

    is_paused: bool
    version: int
    updated_at: str | None = None
    updated_by: str | None = None
    previous_is_paused: bool | None = None

    @property
    def changed_pause(self) -> bool:
        """True when the last change flipped the switch (not when it repeated the same value)."""
        return self.previous_is_paused is not None and self.previous_is_paused != self.is_paused


@cache
def dynamodb_client() -> DynamoDBClient:
    """One client per container. botocore alone (not boto3) keeps the cold start lean; it honours
    AWS_ENDPOINT_URL_DYNAMODB and the other standard settings by itself."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    return cast("DynamoDBClient", session.create_client("dynamodb", config=Config(**_CLIENT_TIMEOUTS)))


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def read_state() -> SchedulerState:
    """One strongly consistent read of the item."""
    response = dynamodb_client().get_item(TableName=table_name(), Key=SCHEDULER_KEY, ConsistentRead=True)
    item = response.get("Item")
    if item is None:
        raise SchedulerEntryMissing
    return _state_from_item(item)


def write_pause(is_paused: bool, *, actor: str, expected_versions: tuple[int, ...] | None = None) -> SchedulerState:
    """Set the switch in one conditional write and return the new state.

    The write happens only if the item exists and, when ``expected_versions`` is given, only if its
    version is one of them (an empty tuple matches nothing). A failed condition tells which it was from the
    same call.
    """
    if expected_versions == ():
        raise PreconditionFailed(None)  # nothing could match: no round trip for a write that cannot happen
    condition = "attribute_exists(pk)"
    values: dict[str, Any] = {
        ":paused": {"BOOL": is_paused},
        ":one": {"N": "1"},
        ":now": {"S": _now()},
        ":actor": {"S": actor},
    }
    if expected_versions is not None:
        names = [f":expected{index}" for index in range(len(expected_versions))]
        values.update({name: {"N": str(version)} for name, version in zip(names, expected_versions, strict=True)})
        condition += f" AND #version IN ({', '.join(names)})"
    client = dynamodb_client()
    try:
        response = client.update_item(
            TableName=table_name(),
            Key=SCHEDULER_KEY,
            # Right-hand operands see the item before the update, so previous_is_paused is the old switch.
            UpdateExpression=(
                "SET previous_is_paused = is_paused, is_paused = :paused, updated_at = :now, updated_by = :actor "
                "ADD #version :one"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        current: Any = error.response.get("Item")
        if current is None:
            raise SchedulerEntryMissing from error
        raise PreconditionFailed(_state_from_item(current)) from error
    return _state_from_item(response["Attributes"])


def create_if_missing(*, actor: str) -> bool:
    """Create the entry (not paused, version 1) unless it exists. Never overwrites. True if it created it."""
    client = dynamodb_client()
    try:
        client.put_item(
            TableName=table_name(),
            Item={
                **SCHEDULER_KEY,
                "is_paused": {"BOOL": False},
                "version": {"N": "1"},
                "updated_at": {"S": _now()},
                "updated_by": {"S": actor},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _state_from_item(item: dict[str, Any]) -> SchedulerState:
    try:
        is_paused = item["is_paused"]["BOOL"]
        version = int(item.get("version", {"N": "0"})["N"])
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptSchedulerEntry(f"unexpected item attributes: {sorted(item)}") from error
    if not isinstance(is_paused, bool):
        raise CorruptSchedulerEntry("is_paused is not a boolean")
    previous = item.get("previous_is_paused", {}).get("BOOL")
    return SchedulerState(
        is_paused=is_paused,
        version=version,
        updated_at=item.get("updated_at", {}).get("S"),
        updated_by=item.get("updated_by", {}).get("S"),
        previous_is_paused=previous if isinstance(previous, bool) else None,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
