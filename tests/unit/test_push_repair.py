"""The push heartbeat (repair_edge): each minute the retained message is compared with the entry; a missing,
unreadable or older message is replaced by the entry's, a newer one is left alone, and PushStateBehind says
which it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from scheduler_contract.tags import Tag
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
def test_a_message_newer_than_the_entry_read_from_a_write_that_landed_meanwhile_is_left_alone(
    iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The write commits after the repair read the entry, and its message is retained before the repair reads
    the topic: the entry read again is that state, so nothing is published and nothing is healed."""
    real_retained = push_topic.retained

    def write_lands_then_read() -> push_topic.Retained | None:
        push_topic.publish(store.write_pause(True, WRITER))
        iot_data.store.published.clear()
        return real_retained()

    monkeypatch.setattr(push_topic, "retained", write_lands_then_read)

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "current", "etag": tag(2, True)}

    assert retained_etag(iot_data) == tag(2, True)
    assert iot_data.store.published == type(iot_data.store.published)()
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


def healed_metric(output: str) -> list[float]:
    values = [json.loads(line)["EntryHealed"] for line in output.splitlines() if "EntryHealed" in line]
    return [value for listed in values for value in (listed if isinstance(listed, list) else [listed])]


def nodes_take(held: str, incoming: str) -> bool:
    from scheduler_client.state import supersedes

    return supersedes(incoming, held)


def test_a_byte_for_byte_restore_of_an_older_item_is_healed_so_every_node_converges_to_it(
    dynamodb: Any,
    scheduler_entry: dict[str, Any],
    iot_data: FakeIotDataPlane,
    capsys: pytest.CaptureFixture[str],
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    """Pause (version 2), flip twice (version 4, running, published), then put the version-2 item back as a
    point-in-time restore does: the API answers paused, so the fleet must be paused, whatever it holds."""
    from tests.conftest import TABLE_NAME, stored_item

    store.write_pause(True, WRITER._replace(token="pause"))
    restored_item = stored_item(dynamodb)
    store.write_pause(False, WRITER._replace(token="resume"))
    push_topic.publish(store.write_pause(True, WRITER._replace(token="pause-again")))
    push_topic.publish(store.write_pause(False, WRITER._replace(token="resume-again")))
    held_by_nodes = retained_etag(iot_data)
    dynamodb.put_item(TableName=TABLE_NAME, Item=restored_item)
    capsys.readouterr()

    answer = repair_edge.handler({"action": "repair"}, None)

    entry = store.read_state()
    assert answer["outcome"] == "healed"
    assert (entry.is_paused, entry.version) == (True, 2)  # the restored state, kept
    assert entry.incarnation != ENTRY_INCARNATION
    assert retained_etag(iot_data) == entry.etag == answer["etag"]
    assert nodes_take(held_by_nodes, entry.etag)  # every subscribed node applies it
    assert healed_metric(capsys.readouterr().out) == [1]
    [heal] = [line for line in logs() if line["level"] == "ERROR"]
    assert "healed with a new incarnation" in heal["message"]
    assert (heal["was"], heal["retained"], heal["healed"]) == (tag(2, True), held_by_nodes, entry.etag)
    assert repair_edge.handler({"action": "repair"}, None)["outcome"] == "current"  # healed for good


def test_a_forged_newer_message_is_healed_over(
    scheduler_entry: dict[str, Any], iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    retain(iot_data, message(99, False))

    answer = repair_edge.handler({"action": "repair"}, None)

    entry = store.read_state()
    assert answer == {"outcome": "healed", "etag": entry.etag, "was": tag(1, False), "retained": tag(99, False)}
    assert (entry.is_paused, entry.version) == (False, 1)
    assert retained_etag(iot_data) == entry.etag
    assert nodes_take(tag(99, False), entry.etag)
    assert healed_metric(capsys.readouterr().out) == [1]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_forged_incarnation_from_the_future_is_replaced_at_once_without_a_heal(
    iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    retain(
        iot_data,
        json.dumps({"is_paused": False, "etag": '"1.r.zzzzzzzzzzzz"', "version": 1, "updated_at": None}).encode(),
    )

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "repaired", "etag": tag(1, False)}

    assert retained_etag(iot_data) == tag(1, False)
    assert healed_metric(capsys.readouterr().out) == []


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize("poison", [b"[" * 20_000, b'{"etag": ""}', b'{"etag": "8.p"}', b"\xff" * 5000])
def test_a_poisoned_message_is_replaced_and_the_repair_never_crashes(iot_data: FakeIotDataPlane, poison: bytes) -> None:
    retain(iot_data, poison)

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "repaired", "etag": tag(1, False)}

    assert retained_etag(iot_data) == tag(1, False)


def test_a_heal_that_meets_a_competing_write_writes_nothing_and_leaves_the_next_run_to_look(
    dynamodb: Any, scheduler_entry: dict[str, Any], iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    retain(iot_data, message(99, False))
    real_reincarnate = store.reincarnate
    competing: list[store.Entry] = []

    def compete_then_heal(entry: store.Entry, *, after: Any = None) -> store.Entry:
        competing.append(store.write_pause(True, WRITER))
        return real_reincarnate(entry, after=after)

    monkeypatch.setattr(store, "reincarnate", compete_then_heal)

    answer = repair_edge.handler({"action": "repair"}, None)

    assert answer == {"outcome": "changed_meanwhile", "etag": tag(1, False)}  # what it found, not what it wrote
    assert store.read_state().tag == competing[0].tag  # the competing write stands, its incarnation untouched


def test_a_heal_is_retried_safely_after_its_answer_is_lost(
    scheduler_entry: dict[str, Any], iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heal's write landed but its answer was lost: the next run finds the entry healed, behind the forged
    message no longer (its new incarnation is later), and publishes it; nothing is healed twice."""
    retain(iot_data, message(99, False))
    before = store.read_state()
    healed = store.reincarnate(before, after=store.read_state().tag._replace(version=99))

    answer = repair_edge.handler({"action": "repair"}, None)

    assert answer == {"outcome": "repaired", "etag": healed.etag}
    assert store.read_state().incarnation == healed.incarnation


def message_made_at(moment: datetime, is_paused: bool = False) -> bytes:
    """A message whose entry claims to have been made at ``moment`` (its incarnation's time)."""
    etag = str(Tag(version=1, is_paused=is_paused, incarnation=store.new_incarnation(moment)))
    return json.dumps({"is_paused": is_paused, "etag": etag, "version": 1, "updated_at": None}).encode()


def test_a_heal_over_a_message_made_on_a_clock_running_ahead_still_supersedes_it(
    scheduler_entry: dict[str, Any], iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message made an hour ahead of this clock (a skewed writer, within the day the contract tolerates): the new
    incarnation must be later than the message's, not merely than now, or the nodes holding it ignore the heal."""
    ahead = message_made_at(store.clock() + timedelta(hours=1))
    retain(iot_data, ahead)

    assert repair_edge.handler({"action": "repair"}, None)["outcome"] == "healed"

    entry = store.read_state()
    assert nodes_take(json.loads(ahead)["etag"], entry.etag)
    assert retained_etag(iot_data) == entry.etag
    assert healed_metric(capsys.readouterr().out) == [1]


@pytest.mark.usefixtures("scheduler_entry")
def test_a_message_more_than_a_day_ahead_is_from_the_future_and_replaced_without_a_heal(
    iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two days ahead is past the contract's one day of clock skew: no entry can have made it, so it is poison,
    replaced by the entry as it is (a heal would give the entry an incarnation two days ahead too)."""
    retain(iot_data, message_made_at(store.clock() + timedelta(days=2)))

    assert repair_edge.handler({"action": "repair"}, None) == {"outcome": "repaired", "etag": tag(1, False)}

    assert store.read_state().incarnation == ENTRY_INCARNATION
    assert healed_metric(capsys.readouterr().out) == []


def test_a_new_incarnation_is_later_than_the_entrys_own_even_when_that_is_ahead_of_the_clock(dynamodb: Any) -> None:
    """store.reincarnate with no message to pass (its default): an entry made on a
    clock an hour ahead still gets a later incarnation, so nodes holding it take the new one."""
    assert store.create_if_missing(
        actor="test-setup", incarnation=store.new_incarnation(store.clock() + timedelta(hours=1))
    )
    made_ahead = store.read_state()

    renewed = store.reincarnate(made_ahead)

    assert (renewed.is_paused, renewed.version) == (made_ahead.is_paused, made_ahead.version)
    assert nodes_take(made_ahead.etag, renewed.etag)
    assert store.read_state().tag == renewed.tag


@pytest.mark.usefixtures("scheduler_entry")
@pytest.mark.parametrize(
    ("held", "level"), [(None, "INFO"), (message(0, False), "WARNING")], ids=["a new topic", "an older message"]
)
def test_a_first_publish_is_information_and_a_message_behind_is_a_warning(
    iot_data: FakeIotDataPlane, logs: Callable[[], list[dict[str, Any]]], held: bytes | None, level: str
) -> None:
    """A normal start has no retained message yet: nothing went wrong, so nothing warns."""
    if held is not None:
        retain(iot_data, held)

    repair_edge.handler({"action": "repair"}, None)

    [line] = [line for line in logs() if "publishing the entry" in line["message"]]
    assert line["level"] == level
