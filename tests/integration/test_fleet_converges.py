"""The entry is the truth, end to end on the local stack (DynamoDB Local, Mosquitto, the publisher and the
repair, real watchers): after a byte-for-byte restore of an older item, a forged newer retained message, or a
poisoned one, every subscribed node and every node that starts afterwards agrees with the API within two repair
periods. The repair runs every 2 s here (REPAIR_SECONDS); on AWS, every minute. Every wait is bounded."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish
import pytest
import requests

from local_stack.broker import TOPIC
from scheduler_client import PauseWatcher, SchedulerClient
from tests.integration.conftest import TABLE_NAME, LocalStack

REPAIR_SECONDS = 2.0
WAIT = 2 * REPAIR_SECONDS + 26.0  # two repair periods, and the time a loaded 2-core machine takes to get there


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    started = LocalStack(tmp_path / "dynamodb", env={"REPAIR_SECONDS": str(REPAIR_SECONDS)}).start()
    try:
        yield started
    finally:
        started.stop()


def api_etag(stack: LocalStack) -> str:
    answer = requests.get(stack.url, timeout=10)
    assert answer.status_code == 200
    return answer.headers["ETag"]


def patch(stack: LocalStack, is_paused: bool) -> str:
    answer = requests.patch(stack.url, json={"is_paused": is_paused}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.headers["ETag"]


def node(stack: LocalStack) -> PauseWatcher:
    """A node that follows push alone (no verification poll): convergence must come through the topic."""
    watcher = PauseWatcher(SchedulerClient(stack.url, timeout=2.0), stack.push_url, verify_interval=0)
    watcher.start(wait=WAIT)
    return watcher


def until(condition: Callable[[], bool], what: str) -> None:
    tick = threading.Event()
    for _ in range(int(WAIT / 0.1)):
        if condition():
            return
        tick.wait(0.1)
    assert condition(), what


def agrees(watcher: PauseWatcher, stack: LocalStack) -> bool:
    return watcher.state is not None and watcher.state.etag == api_etag(stack)


def retain(stack: LocalStack, payload: bytes) -> None:
    paho.mqtt.publish.single(TOPIC, payload, qos=1, retain=True, hostname="127.0.0.1", port=stack.mqtt_port)


def test_a_restore_of_an_older_item_is_followed_by_every_node(stack: LocalStack) -> None:
    dynamodb: Any = stack.dynamodb()
    patch(stack, True)
    restored = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}}, ConsistentRead=True)["Item"]
    patch(stack, False)
    subscribed = node(stack)
    try:
        until(lambda: agrees(subscribed, stack), "the subscribed node holds the running state")
        assert subscribed.is_paused() is False

        dynamodb.put_item(TableName=TABLE_NAME, Item=restored)  # a point-in-time restore: paused, older

        until(lambda: agrees(subscribed, stack), "the subscribed node follows the restored (healed) entry")
        assert subscribed.is_paused() is True
        assert subscribed.source == "push"
        newcomer = node(stack)
        try:
            until(lambda: agrees(newcomer, stack), "a node started afterwards agrees")
            assert newcomer.is_paused() is True
        finally:
            newcomer.stop()
    finally:
        subscribed.stop()
    assert "healed with a new incarnation" in stack.output()


def test_a_forged_newer_message_is_overridden_for_every_node(stack: LocalStack) -> None:
    paused = patch(stack, True)
    subscribed = node(stack)
    try:
        until(lambda: agrees(subscribed, stack), "the subscribed node holds the pause")
        version, _, incarnation = paused.strip('"').split(".")
        forged_tag = f'"{int(version) + 50}.r.{incarnation}"'
        forged = {"is_paused": False, "etag": forged_tag, "version": int(version) + 50, "updated_at": None}
        retain(stack, json.dumps(forged).encode())

        # It takes the forged message (newer by the ordering). Then either the repair heals the entry (a new
        # incarnation supersedes the forgery), or the publisher's own message for the pause replaced the forgery
        # on the topic first, and the node, told an older state than it holds, asks the API: both end on the entry.
        until(lambda: subscribed.state is not None and subscribed.state.etag != paused, "the forged message arrives")
        until(lambda: agrees(subscribed, stack) and subscribed.is_paused(), "the subscribed node is back on the entry")
        newcomer = node(stack)
        try:
            until(lambda: agrees(newcomer, stack), "a node started afterwards agrees")
        finally:
            newcomer.stop()
    finally:
        subscribed.stop()


@pytest.fixture
def stack_without_repair(tmp_path: Path) -> Iterator[LocalStack]:
    """The repair runs once, at the start, and not again within the test: only the node can notice."""
    started = LocalStack(tmp_path / "dynamodb", env={"REPAIR_SECONDS": "3600"}).start()
    try:
        yield started
    finally:
        started.stop()


def test_a_forged_message_replaced_before_any_repair_saw_it_is_still_undone(stack_without_repair: LocalStack) -> None:
    stack = stack_without_repair
    paused = patch(stack, True)
    subscribed = node(stack)
    try:
        until(lambda: agrees(subscribed, stack), "the subscribed node holds the pause")
        version, _, incarnation = paused.strip('"').split(".")
        forged_version = int(version) + 50
        forged = {
            "is_paused": False,
            "etag": f'"{forged_version}.r.{incarnation}"',
            "version": forged_version,
            "updated_at": None,
        }
        retain(stack, json.dumps(forged).encode())
        until(lambda: subscribed.state is not None and not subscribed.is_paused(), "the forged message is taken")

        # The entry's own message replaces the forgery: the topic is current again, so no repair would ever heal.
        retain(
            stack, json.dumps({"is_paused": True, "etag": paused, "version": int(version), "updated_at": None}).encode()
        )

        until(
            lambda: agrees(subscribed, stack) and subscribed.is_paused(), "the node asked the API and took its answer"
        )
    finally:
        subscribed.stop()
    assert "healed with a new incarnation" not in stack.output()


def test_a_poisoned_message_breaks_nothing_and_is_replaced(stack: LocalStack) -> None:
    patch(stack, True)
    subscribed = node(stack)
    try:
        until(lambda: agrees(subscribed, stack), "the subscribed node holds the pause")

        retain(stack, b"[" * 20_000)

        newcomer = node(stack)
        try:
            until(lambda: agrees(newcomer, stack), "a node started afterwards gets the entry, not the poison")
        finally:
            newcomer.stop()
        assert subscribed.is_paused() is True
        assert subscribed.status.value == "subscribed"  # the poison changed nothing and dropped nothing
    finally:
        subscribed.stop()
