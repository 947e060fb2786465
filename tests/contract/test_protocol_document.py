"""docs/protocol.md shows its figures as a node author would compute them: the worked SigV4 example and the
client id are what the client's own code makes, so the document cannot drift from the watcher."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from unittest import mock

import botocore.auth
from botocore.credentials import Credentials

from scheduler_client.push import new_client_id, parse_push_url, presigned_path

DOCUMENT = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
ENDPOINT = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com"


def test_the_worked_example_is_the_url_the_client_signs() -> None:
    url = parse_push_url(f"wss://{ENDPOINT}/scheduler-control/prod/pause")
    credentials = Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "FQoGZXIvYXdzEXAMPLE//token="
    ).get_frozen_credentials()
    signed_at = datetime.datetime(2026, 12, 1, 8, 0, 0)

    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=signed_at):
        path = presigned_path(url, credentials, "eu-west-1")

    assert f"wss://{ENDPOINT}{path}" in DOCUMENT
    signature = re.search(r"X-Amz-Signature=([0-9a-f]{64})", path)
    assert signature is not None
    assert f"`{signature.group(1)}`" in DOCUMENT


def test_the_client_id_is_the_documented_prefix_and_a_random_part() -> None:
    url = parse_push_url(f"wss://{ENDPOINT}/scheduler-control/prod/pause")

    client_id = new_client_id(url)

    assert re.fullmatch(r"scheduler-control-prod-node-[0-9a-f]{16}", client_id)
    assert "scheduler-control-prod-node-3f9c2a71b0d4e615" in DOCUMENT
    assert new_client_id(url) != client_id
