"""Read and flip the scheduler's pause switch.

from scheduler_client import SchedulerClient, PauseWatcher

client = SchedulerClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/scheduler/")
push = "wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com/scheduler-control/prod/pause"   # the stack's PushUrl
with PauseWatcher(client, push).start(wait=5) as watcher:
    if not watcher.is_paused():   # from memory: the last value known (paused before the first one)
        run_due_jobs()
"""

from scheduler_client.client import Outcome, SchedulerClient
from scheduler_client.errors import (
    Forbidden,
    InvalidUpdate,
    OutcomeUnknown,
    PreconditionFailed,
    RequestRefused,
    SchedulerError,
    ServerError,
    Throttled,
    Unreachable,
)
from scheduler_client.push import PushUrlInvalid
from scheduler_client.retry import RetryPolicy
from scheduler_client.state import SchedulerState
from scheduler_client.watcher import PauseWatcher, WatcherStatus

__all__ = [
    "Forbidden",
    "InvalidUpdate",
    "Outcome",
    "OutcomeUnknown",
    "PauseWatcher",
    "PreconditionFailed",
    "PushUrlInvalid",
    "RequestRefused",
    "RetryPolicy",
    "SchedulerClient",
    "SchedulerError",
    "SchedulerState",
    "ServerError",
    "Throttled",
    "Unreachable",
    "WatcherStatus",
]
