"""Read and flip the scheduler's pause switch.

from scheduler_client import SchedulerClient, PauseWatcher

client = SchedulerClient("https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/")
with PauseWatcher(client, interval=10) as watcher:
    if not watcher.is_paused():   # from memory; True when it cannot know (fail closed)
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
from scheduler_client.retry import RetryPolicy
from scheduler_client.state import SchedulerState
from scheduler_client.watcher import PauseWatcher

__all__ = [
    "Forbidden",
    "InvalidUpdate",
    "Outcome",
    "OutcomeUnknown",
    "PauseWatcher",
    "PreconditionFailed",
    "RequestRefused",
    "RetryPolicy",
    "SchedulerClient",
    "SchedulerError",
    "SchedulerState",
    "ServerError",
    "Throttled",
    "Unreachable",
]
