"""What the client raises: one exception per kind of answer, each carrying the service's own text.

SchedulerError              everything below; ``status`` is the HTTP status (None: no answer)
├── InvalidUpdate           400: the body or a header was refused; the text says why
├── Forbidden               401/403: AWS refused the signature or the caller's IAM policy (AWS's message)
├── PreconditionFailed      412: If-Match named no current version; ``current_etag`` when the service sent it
├── RequestRefused          any other 4xx (404, 405, 415, 422)
├── Throttled               429/503: try later; ``retry_after`` in seconds when the service said
├── ServerError             other 5xx (500: e.g. the entry is missing; 502/504: the gateway)
├── Unreachable             no answer: connection refused or reset, DNS, TLS, timeouts
└── OutcomeUnknown          a write whose answer was lost, and whose retry could not tell whether it landed
"""

from __future__ import annotations


class SchedulerError(Exception):
    """The service refused or failed, or could not be reached. ``str(error)`` is one line for people."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidUpdate(SchedulerError):
    """400: the service refused the request's body or headers."""


class Forbidden(SchedulerError):
    """401/403: no or wrong credentials, or an IAM policy that does not allow the call."""


class PreconditionFailed(SchedulerError):
    """412: the scheduler is not at the version If-Match named (someone else wrote first)."""

    def __init__(self, message: str, *, status: int | None = 412, current_etag: str | None = None) -> None:
        super().__init__(message, status=status)
        self.current_etag = current_etag


class RequestRefused(SchedulerError):
    """Another 4xx: the request cannot succeed as sent."""


class Throttled(SchedulerError):
    """429 or 503: the service or its database is busy; ``retry_after`` is its hint in seconds."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(SchedulerError):
    """A 5xx other than 503."""


class Unreachable(SchedulerError):
    """No HTTP answer: the connection failed or timed out. ``maybe_delivered`` is True when the request had
    gone out (a read timeout, a reset after sending): a write may then have landed."""

    def __init__(self, message: str, *, status: int | None = None, maybe_delivered: bool = False) -> None:
        super().__init__(message, status=status)
        self.maybe_delivered = maybe_delivered


class OutcomeUnknown(SchedulerError):
    """A write may or may not have landed: an attempt's answer was lost (a read timeout, a reset, a 502 or 504
    from the gateway) and no later attempt could tell (a 412 because the switch moved on, or no answer at all).
    Nothing is written again: read the switch (``get()``, ``scheduler status``) and decide."""
