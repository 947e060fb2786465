"""The fleet's copy of the switch: one retained MQTT message on one AWS IoT Core topic per stage.

Every node subscribes to ``PUSH_TOPIC``; IoT Core hands each new subscriber the retained message at once and
every later one as it is published. The message is the contract's (``scheduler_contract.message``,
docs/protocol.md): the state and its entity tag, never who wrote it. Nodes apply a message only when its tag
supersedes the one they hold (``scheduler_contract.tags.supersedes``), so a duplicate or a late, older publish
changes nothing. Publishing goes through IoT Core's HTTPS data plane
(``IOT_DATA_ENDPOINT``, which the stack finds with iot:DescribeEndpoint); locally, through the local stack's
stand-in for it in front of a real MQTT broker (local_stack/iot_data.py), with this same code.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

from botocore.config import Config

from scheduler_contract.backoff import Backoff
from scheduler_contract.message import decode_message, encode_message
from scheduler_contract.tags import Tag
from scheduler_service import aws, store, validators
from scheduler_service.observability import logger

TOPIC_VARIABLE = "PUSH_TOPIC"
ENDPOINT_VARIABLE = "IOT_DATA_ENDPOINT"
# A publish is retried in the function this many times in all, with full-jitter backoff, before the invocation
# fails; the event source mapping then retries the record a bounded number of times too (template.yaml), and
# after that the record goes to the failure destination, which alarms.
PUBLISH_ATTEMPTS = 3
PUBLISH_BACKOFF = Backoff(base=0.2, cap=2.0)  # full jitter, the one policy (scheduler_contract.backoff)

# The pause between attempts, in one place so tests can replace it.
sleep: Callable[[float], None] = time.sleep
# Pseudo-random is right here: it spreads retries, it guards no secret.
_jitter = random.Random()  # noqa: S311  # nosec B311


class PushFailed(Exception):
    """Every attempt to publish the retained message failed; the message names the last error."""


class Retained(NamedTuple):
    """The retained message as IoT Core holds it: its tag (None when it names none), and its value."""

    tag: Tag | None
    is_paused: bool | None


def topic() -> str:
    return os.environ[TOPIC_VARIABLE]


def message_of(entry: store.Entry) -> bytes:
    """The retained message for ``entry``: the contract's push message of its state, tag and time."""
    return encode_message(entry.tag, validators.iso_time(entry.updated_at))


def read_message(payload: bytes) -> Retained:
    """What a retained message says; a payload that is not a whole message of the contract says nothing."""
    message = decode_message(payload)
    return Retained(None, None) if message is None else Retained(message.tag, message.is_paused)


@cache
def iot_data_client() -> Any:
    """One client per container. botocore's own retries are off: ``publish`` retries, with its own bound."""
    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"})
    return aws.botocore_session().create_client("iot-data", endpoint_url=os.environ[ENDPOINT_VARIABLE], config=config)


def publish(entry: store.Entry) -> None:
    """Put ``entry`` on the topic as the retained message (QoS 1), retrying a failed attempt; PushFailed once
    PUBLISH_ATTEMPTS have failed. A retry after a lost answer publishes the same message twice: nodes ignore
    the duplicate (its tag is the one they hold)."""
    payload = message_of(entry)
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            iot_data_client().publish(topic=topic(), qos=1, retain=True, payload=payload)
        except Exception as error:  # throttled, a 5xx, a timeout, a lost answer: all worth one more try
            logger.warning(
                "Publishing the retained message failed",
                extra={"attempt": attempt + 1, "error": type(error).__name__, "etag": entry.etag},
            )
            if attempt + 1 == PUBLISH_ATTEMPTS:
                raise PushFailed(f"{PUBLISH_ATTEMPTS} attempts to publish {entry.etag} failed: {error}") from error
            sleep(PUBLISH_BACKOFF.delay(attempt, _jitter.random()))
        else:
            logger.info("Published the retained message", extra={"etag": entry.etag, "attempt": attempt + 1})
            return


def retained() -> Retained | None:
    """The topic's retained message now; None when there is none."""
    client = iot_data_client()
    try:
        answer = client.get_retained_message(topic=topic())
    except client.exceptions.ResourceNotFoundException:
        return None
    return read_message(answer.get("payload") or b"")
