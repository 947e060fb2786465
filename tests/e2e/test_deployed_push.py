"""Push on the deployed stack: a watcher signs the WebSocket URL with your credentials, connects to the account's
IoT Core endpoint as a client id of the stage's prefix, and gets the retained state, the same the API answers.
Skipped when the stack was deployed with PushEnabled=false. Changes nothing."""

from __future__ import annotations

import os

import pytest

from scheduler_client import PauseWatcher, SchedulerClient
from scheduler_client.cli import stack_outputs


def test_the_retained_message_is_the_state_the_api_answers(stack: str, client: SchedulerClient) -> None:
    outputs = stack_outputs(stack, os.environ.get("AWS_PROFILE"), os.environ.get("AWS_REGION"))
    if "PushUrl" not in outputs:
        pytest.skip("the stack has no PushUrl output (PushEnabled=false)")
    watcher = PauseWatcher(client, outputs["PushUrl"])
    try:
        watcher.start(wait=20)
        assert (watcher.ready, watcher.source, watcher.status.value) == (True, "push", "subscribed")
        assert watcher.state is not None
        assert watcher.state.etag == client.get().etag
    finally:
        watcher.stop()
