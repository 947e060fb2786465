"""The local stand-in for IoT Core's data plane reads what the broker holds, as GetRetainedMessage does on AWS:
a message retained by anyone, forged or poisoned, is what the local repair sees (and then replaces)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.publish
import pytest

from local_stack.broker import TOPIC, LocalBroker
from local_stack.iot_data import BrokerStore

WAIT = 20.0


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[tuple[LocalBroker, BrokerStore]]:
    with LocalBroker(tmp_path / "broker") as broker:
        store = BrokerStore("127.0.0.1", broker.port)
        assert store.wait_connected(WAIT)
        try:
            yield broker, store
        finally:
            store.close()


def test_no_retained_message_reads_as_none(plane: tuple[LocalBroker, BrokerStore]) -> None:
    _, store = plane

    assert store.retained(TOPIC) is None


def test_its_own_publish_is_read_back(plane: tuple[LocalBroker, BrokerStore]) -> None:
    _, store = plane
    store.publish(TOPIC, b'{"ours": 1}', 1, True)

    held = store.retained(TOPIC)

    assert held is not None
    assert held.payload == b'{"ours": 1}'


@pytest.mark.parametrize("foreign", [b'{"is_paused":false,"etag":"\\"99.r.mk3x0a9z7q2c\\""}', b"[" * 20_000])
def test_a_message_someone_else_retained_is_what_it_reads(
    plane: tuple[LocalBroker, BrokerStore], foreign: bytes
) -> None:
    """The forged or poisoned message replaces the stack's own: the local repair must see it to replace it."""
    broker, store = plane
    store.publish(TOPIC, b'{"ours": 1}', 1, True)
    paho.mqtt.publish.single(TOPIC, foreign, qos=1, retain=True, hostname="127.0.0.1", port=broker.port)

    held = store.retained(TOPIC)

    assert held is not None
    assert held.payload == foreign


def test_an_unreachable_broker_is_an_error_not_an_empty_topic(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "broker") as broker:
        store = BrokerStore("127.0.0.1", broker.port)
        assert store.wait_connected(WAIT)
    try:
        with pytest.raises(ConnectionError):
            store.retained(TOPIC)
    finally:
        store.close()
