"""The fleet's copy of the switch: one retained MQTT message on one AWS IoT Core topic per stage.

Every node subscribes to ``PUSH_TOPIC``; IoT Core hands each new subscriber the retained message at once and
every later one as it is published. The message is public to every node, so it carries the state and its
entity tag, never who wrote it::

    {"is_paused": true, "etag": "\\"8.p.mk3x0a9z7q2c\\"", "version": 8, "updated_at": "2026-12-01T08:00:00.000+00:00"}

Nodes apply a message only when its tag supersedes the one they hold (``validators.supersedes``), so a
duplicate or a late, older publish changes nothing. Publishing goes through IoT Core's HTTPS data plane
(``IOT_DATA_ENDPOINT``, which the stack finds with iot:DescribeEndpoint); locally, through the local stack's
stand-in for it in front of a real MQTT broker (local_stack/iot_data.py), with this same code.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import store
import validators
from observability import logger

TOPIC_VARIABLE = "PUSH_TOPIC"
ENDPOINT_VARIABLE = "IOT_DATA_ENDPOINT"
# A publish is retried in the function this many times in all, with full-jitter backoff, before the invocation
# fails; the event source mapping then retries the record a bounded number of times too (template.yaml), and
# after that the record goes to the failure destination, which alarms.
PUBLISH_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 2.0

# The pause between attempts, in one place so tests can replace it.
sleep: Callable[[float], None] = time.sleep
# Pseudo-random is right here: it spreads retries, it guards no secret.
_jitter = random.Random()  # noqa: S311  # nosec B311


class PushFailed(Exception):
    """Every attempt to publish the retained message failed; the message names the last error."""


class Retained(NamedTuple):
    """The retained message as IoT Core holds it: its tag (None when it names none), and its value."""

    tag: validators.Tag | None
    is_paused: bool | None


def topic() -> str:
    return os.environ[TOPIC_VARIABLE]


def message_of(entry: store.Entry) -> bytes:
    """The retained message for ``entry``: its state, tag and time, compact JSON."""
    document = {
        "is_paused": entry.is_paused,
        "etag": entry.etag,
        "version": entry.version,
        "updated_at": entry.updated_at,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def read_message(payload: bytes) -> Retained:
    """What a retained message says; a payload this service did not make says nothing (both None)."""
    try:
        document = json.loads(payload)
        etag = document["etag"]
        is_paused = document["is_paused"]
    except (ValueError, TypeError, KeyError):
        return Retained(None, None)
    if not isinstance(etag, str) or not isinstance(is_paused, bool) or len(etag) < 2:
        return Retained(None, None)
    tag = validators.parse_tag(etag[1:-1]) if etag[0] == etag[-1] == '"' else None
    if tag is None or tag.is_paused is not is_paused:
        return Retained(None, None)
    return Retained(tag, is_paused)


@cache
def iot_data_client() -> Any:
    """One client per container. botocore's own retries are off: ``publish`` retries, with its own bound."""
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"})
    return store._botocore_session().create_client(
        "iot-data", endpoint_url=os.environ[ENDPOINT_VARIABLE], config=config
    )


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
            sleep(_jitter.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))
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
