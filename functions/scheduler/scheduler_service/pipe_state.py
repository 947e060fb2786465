"""What the minute heartbeat checks beside the entry: that the change-event pipe runs.

Pipes can stop a pipe after repeated target errors, and neither that nor an internal error reaches its
dead-letter queue; no AWS metric says so either. So the heartbeat reads the pipe's state (one DescribePipe)
and reports it as the ChangeEventPipeRunning metric, which ChangeEventPipeStoppedAlarm watches.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from botocore.config import Config

from scheduler_service import aws
from scheduler_service.observability import logger

PIPE_VARIABLE = "CHANGE_EVENT_PIPE"


@cache
def pipes_client() -> Any:
    config = Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2, "mode": "standard"})
    return aws.botocore_session().create_client("pipes", config=config)


def change_event_pipe_running() -> bool | None:
    """True when the pipe is RUNNING, False in any other state; None when there is no pipe to check (the local
    stack) or its state could not be read (then nothing is reported: the alarm treats a missing value as
    missing, and a failing heartbeat pages through SchedulerStateUnknownAlarm)."""
    name = os.environ.get(PIPE_VARIABLE)
    if not name:
        return None
    try:
        state: str | None = pipes_client().describe_pipe(Name=name).get("CurrentState")
    except Exception as error:  # the heartbeat's other checks must still report
        logger.warning("The change-event pipe's state could not be read", extra={"error": type(error).__name__})
        return None
    if state != "RUNNING":
        logger.error("The change-event pipe is not running", extra={"pipe": name, "state": state})
    return state == "RUNNING"
