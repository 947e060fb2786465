"""Change events come from the committed change: real stream records of DynamoDB Local, made by real PATCHes
through the handler, run through the pipe's filter from template.yaml with moto's EventBridge pattern engine
(the one its rules match with), then shaped by the pipe's input template."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from local_stack.change_events import detail_of, passes_the_filter
from tests.integration.conftest import TABLE_NAME, LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_entry")]


def shaped(record: dict[str, Any], stage: str = "dev") -> Any:
    """The pipe's input template applied to a record, as local_stack/pipes_template.py says Pipes renders it."""
    return detail_of(record, stage)


def stream_records(stack: LocalStack, iterator: str, count: int) -> list[dict[str, Any]]:
    import boto3

    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=stack.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # DynamoDB Local takes any
    )
    records: list[dict[str, Any]] = []
    for _ in range(50):  # bounded: DynamoDB Local publishes records within moments
        answer = streams.get_records(ShardIterator=iterator)
        # As the pipe receives them: JSON (the SDK's datetimes become strings).
        records += json.loads(json.dumps(answer["Records"], default=str))
        iterator = answer["NextShardIterator"]
        if len(records) >= count:
            return records
        threading.Event().wait(0.1)
    pytest.fail(f"only {len(records)} of {count} stream records arrived")


def latest_iterator(stack: LocalStack) -> str:
    import boto3

    options: dict[str, Any] = {
        "endpoint_url": stack.dynamodb_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    arn = boto3.client("dynamodb", **options).describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", **options)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator: str = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    return iterator


def test_flips_pass_the_filter_and_repeats_do_not(local_stack: LocalStack, http: requests.Session) -> None:
    iterator = latest_iterator(local_stack)
    pause = http.patch(local_stack.url, json={"is_paused": True}, headers={"Scheduler-Reason": "caf%C3%A9 closed"})
    http.patch(local_stack.url, json={"is_paused": True})  # repeats the value
    resume = http.patch(local_stack.url, json={"is_paused": False})

    records = stream_records(local_stack, iterator, 3)

    assert [record["eventName"] for record in records] == ["MODIFY", "MODIFY", "MODIFY"]
    assert [passes_the_filter(record) for record in records] == [True, False, True]
    paused, resumed = shaped(records[0]), shaped(records[2])
    assert paused["is_paused"] is True
    assert paused["previous_is_paused"] is False
    assert paused["version"] == int(pause.headers["ETag"].strip('"').split(".")[0])
    assert paused["updated_at"] == records[0]["dynamodb"]["NewImage"]["updated_at"]["S"]
    assert paused["updated_by"] == records[0]["dynamodb"]["NewImage"]["updated_by"]["S"]
    assert paused["stage"] == "dev"
    assert paused["reason"] == "café closed"  # percent-decoded by the function, as the item stores it
    assert resumed["reason"] == ""  # none given: the earlier change's reason is not carried on
    assert (resumed["is_paused"], resumed["previous_is_paused"]) == (False, True)
    assert resumed["version"] == int(resume.headers["ETag"].strip('"').split(".")[0])


def test_a_rejected_write_and_a_new_entry_make_no_event(local_stack: LocalStack, http: requests.Session) -> None:
    iterator = latest_iterator(local_stack)
    http.patch(local_stack.url, json={"is_paused": True, "node": 3})  # rejected: no write, no record
    local_stack.dynamodb().delete_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}})
    local_stack.dynamodb().put_item(  # an entry created (as the deploy does): INSERT, not a flip
        TableName=TABLE_NAME,
        Item={"pk": {"S": "scheduler"}, "is_paused": {"BOOL": True}, "version": {"N": "1"}},
    )

    records = stream_records(local_stack, iterator, 2)

    assert [record["eventName"] for record in records] == ["REMOVE", "INSERT"]
    assert not any(passes_the_filter(record) for record in records)
