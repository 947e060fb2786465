"""The push heartbeat (repair_edge): each minute the retained message is compared with the entry; a missing,
unreadable or older message is replaced by the entry's, a newer one is left alone, and PushStateBehind says
which it was."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler_service import push_topic, repair_edge, store
from tests.conftest import ENTRY_INCARNATION, tag
from tests.fake_iot_data import TOPIC, FakeIotDataPlane

WRITER = store.WriteRequest(actor="operator", token="t", request_id="r")


def retain(plane: FakeIotDataPlane, payload: bytes) -> None:
    plane.store.publish(TOPIC, payload, 1, True)
    plane.store.published.clear()


def message(version: int, is_paused: bool, incarnation: str | None = ENTRY_INCARNATION) -> bytes:
    etag = tag(version, is_paused, incarnation)
    return json.dumps({"is_paused": is_paused, "etag": etag, "version": version, "updated_at": None}).encode()


def retained_etag(plane: FakeIotDataPlane) -> str:
    payload = plane.retained_payload()
    assert payload is not None
    etag: str = json.loads(payload)["etag"]
    return etag


def behind_metric(output: str) -> list[float]:
    values = [json.loads(line)["PushStateBehind"] for line in output.splitlines() if "PushStateBehind" in line]
    return [value for listed in values for value in (listed if isinstance(listed, list) else [listed])]


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    "held",
    [None, b"not json", b'{"is_paused": true}', message(0, False), message(1, True, "aaaaaaaaaaaa")],
    ids=["none retained", "not json", "no tag", "an older version", "an older incarnation"],
)
def test_a_message_missing_unreadable_or_older_is_replaced_by_the_entry(
    held: bytes | None, iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    if held is not None:
        retain(iot_data, held)

    answer = repair_edge.handler({"action": "repair"}, None)

    assert answer == {"outcome": "repaired", "etag": tag(1, False)}
    assert retained_etag(iot_data) == tag(1, False)
    assert len(iot_data.store.published) == 1
    assert behind_metric(capsys.readouterr().out) == [1]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_current_message_is_left_alone(iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]) -> None:
    retain(iot_data, message(1, False))

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "current", "etag": tag(1, False)}

    assert iot_data.store.published == type(iot_data.store.published)()
    assert behind_metric(capsys.readouterr().out) == [0]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_message_newer_than_the_entry_read_is_a_write_that_landed_meanwhile_and_is_left_alone(
    iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    retain(iot_data, message(2, True))

    assert repair_edge.handler({"action": "repair"}, None)["outcome"] == "current"

    assert retained_etag(iot_data) == tag(2, True)
    assert behind_metric(capsys.readouterr().out) == [0]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_write_that_commits_during_the_repair_is_published_after_it(
    iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The competing write lands after the repair read the entry, and the publisher's message for it lands before
    the repair's older one: the repair reads the entry again and publishes the newer state last."""
    real_publish = push_topic.publish
    competing: list[store.Entry] = []

    def compete_then_publish(entry: store.Entry) -> None:
        if not competing:
            competing.append(store.write_pause(True, WRITER))
            real_publish(competing[0])  # the stream publisher's message for the competing write
        real_publish(entry)

    monkeypatch.setattr(push_topic, "publish", compete_then_publish)

    answer = repair_edge.handler({"action": "repair"}, None)

    assert answer == {"outcome": "repaired", "etag": tag(2, True)}
    assert [json.loads(payload)["etag"] for _, payload, _ in iot_data.store.published] == [
        tag(2, True),  # the publisher's
        tag(1, False),  # the repair's, from its first read: older, and retained for a moment
        tag(2, True),  # the repair's second read, published last
    ]
    assert retained_etag(iot_data) == tag(2, True)


def test_a_missing_entry_leaves_the_message_as_it_is(dynamodb: Any, iot_data: FakeIotDataPlane) -> None:
    retain(iot_data, message(4, False))

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "entry_missing"}

    assert retained_etag(iot_data) == tag(4, False)
    assert iot_data.requests == []  # not even read: there is nothing to compare it with


@pytest.mark.usefixtures("scheduler_entry")
def test_a_republish_that_fails_fails_the_run_after_reporting_behind(
    iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    iot_data.fail_publishes(push_topic.PUBLISH_ATTEMPTS)

    with pytest.raises(push_topic.PushFailed):
        repair_edge.handler({"action": "repair"}, None)

    assert iot_data.retained_payload() is None
    assert behind_metric(capsys.readouterr().out) == [1]  # the next run finds it behind again: the alarm fires


def test_the_message_names_state_tag_version_and_time_only() -> None:
    entry = store.Entry(
        is_paused=True,
        version=8,
        incarnation=ENTRY_INCARNATION,
        updated_at="2026-12-01T08:00:00.123+00:00",
        updated_by="alice",
        reason="who and why stay in the audit trail",
    )

    document = json.loads(push_topic.message_of(entry))

    assert document == {
        "is_paused": True,
        "etag": tag(8, True),
        "version": 8,
        "updated_at": "2026-12-01T08:00:00.123+00:00",
    }
    assert push_topic.read_message(push_topic.message_of(entry)) == push_topic.Retained(entry.tag, True)


def test_an_entry_time_written_by_hand_in_another_form_is_published_in_the_contracts_form() -> None:
    """A hand repair may store a time with another offset or none: the message carries the contract's UTC form,
    or null when the time cannot be read, so every node can read it."""
    entry = store.Entry(
        is_paused=True, version=8, incarnation=ENTRY_INCARNATION, updated_at="2026-12-01T10:00:00+02:00"
    )
    unreadable = entry._replace(updated_at="yesterday")

    assert json.loads(push_topic.message_of(entry))["updated_at"] == "2026-12-01T08:00:00.000+00:00"
    assert json.loads(push_topic.message_of(unreadable))["updated_at"] is None


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b'{"etag": 7, "is_paused": true}', b'{"etag": "\\"8.p\\"", "is_paused": false}', b'{"etag": "8.p"}'],
)
def test_a_message_this_service_did_not_make_names_nothing(payload: bytes) -> None:
    assert push_topic.read_message(payload) == push_topic.Retained(None, None)
