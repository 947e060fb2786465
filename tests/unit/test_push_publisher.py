"""The publisher (stream_edge): every committed change of the entry, as the table's stream records it, becomes
the retained QoS 1 message of the push topic; a failed publish is retried with a bound, then fails the batch so
the event source mapping retries it and, in the end, sends it to the failure destination."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from scheduler_service import push_topic, store, stream_edge
from tests.conftest import ENTRY_INCARNATION, TABLE_NAME, tag
from tests.fake_iot_data import TOPIC, FakeIotDataPlane

WRITER = store.WriteRequest(actor="arn:aws:sts::123456789012:assumed-role/Operator/alice", token="t", request_id="r")


def stream_records(dynamodb: Any) -> list[dict[str, Any]]:
    """Every record the table's stream holds, oldest first, as DynamoDB Streams hands them out (moto's)."""
    import boto3

    streams = boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        records += streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return records


def deliver(record: dict[str, Any]) -> dict[str, int]:
    """One batch of one record, as the event source mapping invokes the publisher."""
    return stream_edge.handler({"Records": [record]}, None)


def retained_document(plane: FakeIotDataPlane) -> dict[str, Any]:
    payload = plane.retained_payload()
    assert payload is not None, "nothing retained"
    document: dict[str, Any] = json.loads(payload)
    return document


@pytest.mark.usefixtures("scheduler_entry")
def test_a_committed_write_is_the_retained_qos1_message_with_state_tag_and_time_and_no_caller(
    dynamodb: Any, iot_data: FakeIotDataPlane
) -> None:
    written = store.write_pause(True, WRITER)
    *_, record = stream_records(dynamodb)

    assert deliver(record) == {"published": 1}

    assert retained_document(iot_data) == {
        "is_paused": True,
        "etag": tag(2, True),
        "version": 2,
        "updated_at": written.updated_at,
    }
    assert "alice" not in iot_data.retained_payload().decode()  # type: ignore[union-attr]
    ((method, path),) = iot_data.requests
    assert (method, path) == ("POST", "/topics/scheduler-control%2Ftest%2Fpause")
    ((topic, _, retain),) = iot_data.store.published
    assert (topic, retain) == (TOPIC, True)
    assert iot_data.store.retained(TOPIC).qos == 1  # type: ignore[union-attr]


def test_the_entry_made_by_a_deploy_is_published_too(dynamodb: Any, iot_data: FakeIotDataPlane) -> None:
    store.create_if_missing(actor="cloudformation", incarnation=ENTRY_INCARNATION)
    (insert,) = stream_records(dynamodb)

    deliver(insert)

    assert insert["eventName"] == "INSERT"
    assert retained_document(iot_data)["etag"] == tag(1, False)


@pytest.mark.usefixtures("scheduler_entry")
def test_records_delivered_in_order_leave_the_latest_state_retained(dynamodb: Any, iot_data: FakeIotDataPlane) -> None:
    store.write_pause(True, WRITER._replace(token="first"))
    store.write_pause(False, WRITER._replace(token="second"))

    for record in stream_records(dynamodb):
        deliver(record)

    assert retained_document(iot_data)["etag"] == tag(3, False)
    assert len(iot_data.store.published) == 3  # the creation and both writes


@pytest.mark.parametrize(
    "record",
    [
        {"eventName": "REMOVE", "dynamodb": {"OldImage": {"pk": {"S": "scheduler"}, "is_paused": {"BOOL": True}}}},
        {"eventName": "MODIFY", "dynamodb": {"NewImage": {"pk": {"S": "scheduler"}, "is_paused": {"S": "yes"}}}},
        {"eventName": "MODIFY", "dynamodb": {}},
    ],
    ids=["a removal", "an entry broken by hand", "no new image"],
)
def test_a_record_without_a_readable_switch_publishes_nothing_and_does_not_fail(
    record: dict[str, Any], iot_data: FakeIotDataPlane
) -> None:
    assert deliver(record) == {"published": 0}

    assert iot_data.requests == []
    assert iot_data.retained_payload() is None


@pytest.mark.usefixtures("scheduler_entry")
def test_a_refused_publish_is_retried_within_the_invocation(
    dynamodb: Any, iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(push_topic, "sleep", pauses.append)
    store.write_pause(True, WRITER)
    *_, record = stream_records(dynamodb)
    iot_data.fail_publishes(push_topic.PUBLISH_ATTEMPTS - 1)

    deliver(record)

    assert len(iot_data.requests) == push_topic.PUBLISH_ATTEMPTS
    assert retained_document(iot_data)["etag"] == tag(2, True)
    # Full jitter under a doubling cap: 0.2 s, then 0.4 s.
    assert len(pauses) == 2
    assert 0 <= pauses[0] <= 0.2
    assert 0 <= pauses[1] <= 0.4


@pytest.mark.parametrize(("draw", "expected"), [(0.999, [0.1998, 0.3996]), (0.5, [0.1, 0.2]), (0.0, [0.0, 0.0])])
@pytest.mark.usefixtures("scheduler_entry")
def test_the_publish_backoff_is_full_jitter_from_zero_under_a_doubling_ceiling(
    dynamodb: Any, iot_data: FakeIotDataPlane, monkeypatch: pytest.MonkeyPatch, draw: float, expected: list[float]
) -> None:
    """The draws are injected, so the exact waits are known: the first retry's ceiling is 0.2 s, the second's 0.4."""
    pauses: list[float] = []
    monkeypatch.setattr(push_topic, "sleep", pauses.append)
    monkeypatch.setattr(push_topic._jitter, "random", lambda: draw)
    store.write_pause(True, WRITER)
    *_, record = stream_records(dynamodb)
    iot_data.fail_publishes(push_topic.PUBLISH_ATTEMPTS - 1)

    deliver(record)

    assert pauses == pytest.approx(expected)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_publish_that_keeps_failing_fails_the_batch_so_the_mapping_retries_it(
    dynamodb: Any, iot_data: FakeIotDataPlane
) -> None:
    store.write_pause(True, WRITER)
    *_, record = stream_records(dynamodb)
    iot_data.fail_publishes(push_topic.PUBLISH_ATTEMPTS)

    with pytest.raises(push_topic.PushFailed, match=r"3 attempts to publish \"2\.p\."):
        deliver(record)

    assert len(iot_data.requests) == push_topic.PUBLISH_ATTEMPTS  # bounded: no fourth attempt
    assert iot_data.retained_payload() is None


@pytest.mark.usefixtures("scheduler_entry")
def test_a_publish_whose_answer_is_lost_is_sent_again_and_retains_the_same_message(
    dynamodb: Any, iot_data: FakeIotDataPlane
) -> None:
    store.write_pause(True, WRITER)
    *_, record = stream_records(dynamodb)
    iot_data.lose_publish_answers(1)

    deliver(record)

    first, second = iot_data.store.published
    assert first == second  # the duplicate nodes ignore: the same tag
    assert retained_document(iot_data)["etag"] == tag(2, True)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_redelivered_record_after_a_newer_one_is_published_as_it_was(
    dynamodb: Any, iot_data: FakeIotDataPlane
) -> None:
    """The mapping may deliver a batch again (at least once); the message then names the older tag, which every
    node that holds the newer one ignores (validators.supersedes), and the repair heals what is retained."""
    store.write_pause(True, WRITER._replace(token="first"))
    store.write_pause(False, WRITER._replace(token="second"))
    _, older, newer = stream_records(dynamodb)

    deliver(newer)
    deliver(older)

    assert retained_document(iot_data)["etag"] == tag(2, True)


def healed_count(output: str) -> int:
    return sum(1 for line in output.splitlines() if '"EntryHealed"' in line)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_change_that_goes_back_in_time_heals_the_entry_instead_of_publishing_an_older_state(
    dynamodb: Any, iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older item written over the live one (a hand repair, a restore into the table): publishing it would
    leave every node on the newer state it holds. The entry gets a new incarnation, and that is published."""
    store.write_pause(True, WRITER._replace(token="pause"))
    older = dynamodb.get_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True)["Item"]
    store.write_pause(False, WRITER._replace(token="resume"))
    dynamodb.put_item(TableName=TABLE_NAME, Item=older)
    *_, went_back = stream_records(dynamodb)
    capsys.readouterr()

    assert deliver(went_back) == {"published": 1}

    entry = store.read_state()
    assert (entry.is_paused, entry.version) == (True, 2)
    assert entry.incarnation != ENTRY_INCARNATION
    assert retained_document(iot_data)["etag"] == entry.etag
    from scheduler_client.state import supersedes

    assert supersedes(entry.etag, tag(3, False))  # nodes holding the newer state apply it
    assert healed_count(capsys.readouterr().out) == 1


@pytest.mark.usefixtures("scheduler_entry")
def test_a_change_back_in_time_that_meets_a_later_write_leaves_it_to_that_writes_own_record(
    dynamodb: Any, iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    store.write_pause(True, WRITER._replace(token="pause"))
    older = dynamodb.get_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True)["Item"]
    store.write_pause(False, WRITER._replace(token="resume"))
    dynamodb.put_item(TableName=TABLE_NAME, Item=older)
    *_, went_back = stream_records(dynamodb)
    later = store.write_pause(False, WRITER._replace(token="later"))
    capsys.readouterr()

    assert deliver(went_back) == {"published": 0}

    assert store.read_state().tag == later.tag  # untouched: no heal over a write
    assert iot_data.retained_payload() is None
    assert healed_count(capsys.readouterr().out) == 0


def modification(old: dict[str, Any], new: dict[str, Any], event_name: str = "MODIFY") -> dict[str, Any]:
    """A change record as the mapping delivers it (NEW_AND_OLD_IMAGES)."""
    return {"eventName": event_name, "dynamodb": {"OldImage": old, "NewImage": new, "SequenceNumber": "1"}}


def test_a_change_back_from_an_entry_made_on_a_clock_ahead_heals_past_that_entrys_incarnation(
    dynamodb: Any, iot_data: FakeIotDataPlane, capsys: pytest.CaptureFixture[str], logs: Any
) -> None:
    """The item written over was made an hour ahead of this clock: the heal's incarnation must be later than that
    item's, which nodes hold, not merely than now; the heal's log names what the record went back from."""
    from scheduler_client.state import supersedes

    store.create_if_missing(actor="test-setup", incarnation=ENTRY_INCARNATION)
    live = dynamodb.get_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True)["Item"]
    made_ahead = live | {"incarnation": {"S": store.new_incarnation(store.clock() + timedelta(hours=1))}}
    held_by_nodes = store.entry_from_item(made_ahead).etag
    capsys.readouterr()

    assert deliver(modification(old=made_ahead, new=live)) == {"published": 1}

    entry = store.read_state()
    assert supersedes(entry.etag, held_by_nodes)
    assert retained_document(iot_data)["etag"] == entry.etag
    [heal] = [line for line in logs() if line["level"] == "ERROR"]
    assert (heal["was"], heal["retained"], heal["healed"]) == (tag(1, False), held_by_nodes, entry.etag)


@pytest.mark.usefixtures("scheduler_entry")
def test_only_a_modification_has_a_state_it_went_back_from(dynamodb: Any, iot_data: FakeIotDataPlane) -> None:
    """An insert carrying an old image (no stream makes one; no parser trusts its input) is published as it is."""
    live = dynamodb.get_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True)["Item"]
    newer = live | {"version": {"N": "9"}}

    assert deliver(modification(old=newer, new=live, event_name="INSERT")) == {"published": 1}

    assert store.read_state().incarnation == ENTRY_INCARNATION  # not healed
    assert retained_document(iot_data)["etag"] == tag(1, False)


@pytest.mark.usefixtures("scheduler_entry")
def test_a_batch_publishes_every_readable_record_in_order_and_counts_them(
    dynamodb: Any, iot_data: FakeIotDataPlane
) -> None:
    """A record that publishes nothing (unreadable, or a change back that met a later write) ends only itself."""
    store.write_pause(True, WRITER._replace(token="pause"))
    older = dynamodb.get_item(TableName=TABLE_NAME, Key=store.SCHEDULER_KEY, ConsistentRead=True)["Item"]
    store.write_pause(False, WRITER._replace(token="resume"))
    dynamodb.put_item(TableName=TABLE_NAME, Item=older)
    *_, went_back = stream_records(dynamodb)
    later = store.write_pause(False, WRITER._replace(token="later"))
    *_, latest = stream_records(dynamodb)
    unreadable = {"eventName": "MODIFY", "dynamodb": {"NewImage": {"is_paused": {"S": "yes"}}}}
    first_two = stream_records(dynamodb)[:2]

    answer = stream_edge.handler({"Records": [*first_two, unreadable, went_back, latest]}, None)

    assert answer == {"published": 3}
    assert [json.loads(payload)["etag"] for _, payload, _ in iot_data.store.published] == [
        tag(1, False),
        tag(2, True),
        later.etag,
    ]
