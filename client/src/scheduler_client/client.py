"""``SchedulerClient``: GET and PATCH /scheduler/, signed, conditional, retried only where that is safe."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session
from botocore.session import Session
from botocore.utils import get_environ_proxies

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
from scheduler_client.retry import NO_RETRY, Budget, RetryPolicy, is_retryable, parse_retry_after
from scheduler_client.signing import RequestSigner, is_loopback, resolve_region
from scheduler_client.state import SchedulerState, StatusView, parse_http_date, parse_iso_time, same_version
from scheduler_contract.reasons import reason_problem

# pause()/resume() re-read and retry after a 412 this many times: enough for operators racing each other,
# bounded so that a switch flipped in a loop by someone else ends in an error rather than a spin.
CONDITIONAL_WRITE_ATTEMPTS = 5
# Answers after which a write may have landed although the client never saw it land: the gateway gave up
# waiting for the function (502, 504), or the connection broke after the request was sent.
AMBIGUOUS_STATUSES = frozenset({502, 504})


@dataclass(frozen=True)
class Outcome:
    """What ``ensure`` did: the state now, and whether this call wrote it."""

    state: SchedulerState
    written: bool


class SchedulerClient:
    """The scheduler resource at ``url`` (the stack's ``ApiUrl`` output, e.g.
    ``https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/``).

    Requests are signed with SigV4 for ``execute-api`` through botocore's credential chain (``profile`` picks
    a named profile) unless the URL is a loopback address (the local stack); ``sign`` forces either way. The
    region comes from an ``execute-api`` host, else ``region``, else the profile or environment.
    Reads, and writes (each carries its own ``Idempotency-Key``), are retried on 429, 502, 503, 504 and
    connection errors as ``retry`` says; everything else raises at once (see ``scheduler_client.errors``).

    ``timeout`` bounds each attempt: at most half of it to connect and half for the answer. Each call (``get``,
    ``set_paused``, ``ensure`` with its read and its write) has ``retry.total`` seconds in all, and starts no
    attempt that could end after them; its first attempt always runs.
    """

    def __init__(  # noqa: PLR0913 - keyword-only options, as the package documents them
        self,
        url: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        sign: bool | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"The scheduler URL must start with https:// (or http:// for the local stack): {url!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.url = url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._signer: RequestSigner | None = None
        self.profile = profile
        if sign if sign is not None else not is_loopback(url):
            session = Session(profile=profile)
            self._signer = RequestSigner(session, resolve_region(url, region, session))
        # The environment's proxies (HTTPS_PROXY, NO_PROXY), never for the local stack on this machine.
        proxies = {} if is_loopback(url) else get_environ_proxies(url)
        # Half to connect, half for the answer: an attempt ends within ``timeout`` (botocore types it as int;
        # urllib3 takes any number of seconds).
        self._http = URLLib3Session(timeout=cast("int", (timeout / 2, timeout / 2)), proxies=proxies)

    @property
    def signs(self) -> bool:
        return self._signer is not None

    @property
    def session(self) -> Session:
        """The botocore session whose credential chain signs this client's requests (a push connection over
        WebSocket signs with it too); a new one of ``profile`` for a client that does not sign."""
        if self._signer is None:
            self._signer_session = getattr(self, "_signer_session", None) or Session(profile=self.profile)
            return self._signer_session
        return self._signer.session

    def get(self, *, budget: Budget | None = None) -> SchedulerState:
        """The switch now."""
        return _state_of(self._exchange("GET", {}, None, self.retry, budget))

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        """The switch if its representation is no longer ``etag`` (sent as If-None-Match); None when unchanged
        (304, which carries no body). ``retry=False`` makes one attempt (the watcher has its own backoff)."""
        headers = {"If-None-Match": etag} if etag is not None else {}
        response = self._exchange("GET", headers, None, self.retry if retry else NO_RETRY)
        if response.status_code == 304:
            return None
        return _state_of(response)

    def status(self) -> StatusView:
        """The status view (``/scheduler/status``): the state with who changed it, when, through what and why,
        and the maintenance windows holding it. Operators' policies grant it; a node's does not."""
        response = self._exchange("GET", {}, None, self.retry, url=status_url(self.url))
        return StatusView.from_document(_state_of(response), _document_of(response))

    def set_paused(
        self,
        value: bool,
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
        reason: str | None = None,
        budget: Budget | None = None,
    ) -> SchedulerState:
        """Write ``is_paused`` (only if the switch is still at ``if_match``, when given) and return the state the
        write made; ``reason`` says why (stored with the change: at most 256 characters, one line). One logical
        write: its retries carry the same Idempotency-Key, and the service answers a retry of a write that landed
        with that write's state, so a lost answer is never written twice. When it cannot tell (an attempt's answer
        was lost and a retry was refused or unanswered), ``OutcomeUnknown``."""
        key = idempotency_key or str(uuid.uuid4())
        headers = {"Content-Type": "application/json", "Idempotency-Key": json.dumps(key)}
        if if_match is not None:
            headers["If-Match"] = if_match
        if reason:
            headers["Scheduler-Reason"] = encode_reason(reason)
        body = json.dumps({"is_paused": value}).encode()
        return _state_of(self._exchange("PATCH", headers, body, self.retry, budget))

    def pause(self, *, if_match: str | None = None, reason: str | None = None) -> SchedulerState:
        """Pause unless already paused; see ``ensure``."""
        return self.ensure(True, if_match=if_match, reason=reason).state

    def resume(self, *, if_match: str | None = None, reason: str | None = None) -> SchedulerState:
        """Resume unless already resumed; see ``ensure``."""
        return self.ensure(False, if_match=if_match, reason=reason).state

    def ensure(self, value: bool, *, if_match: str | None = None, reason: str | None = None) -> Outcome:
        """Read, and write ``value`` only if the switch differs, conditionally on the version just read; after a
        412 (someone wrote in between) read again, at most ``CONDITIONAL_WRITE_ATTEMPTS`` times.

        With ``if_match`` the caller names the version it decided on: if the switch is no longer at it,
        ``PreconditionFailed`` is raised and nothing is written, even when the value is already the wanted one.
        ``*`` (any version) is the same as none.
        """
        if if_match is not None and if_match.strip() == "*":
            if_match = None
        if reason:
            encode_reason(reason)  # a reason the service would refuse is refused before anything is sent
        budget = Budget(self.retry)
        for _ in range(CONDITIONAL_WRITE_ATTEMPTS):
            current = self.get(budget=budget)
            if if_match is not None and not same_version(current.etag, if_match):
                raise PreconditionFailed(
                    f"The scheduler is at {current.etag}, not {if_match}: someone changed it. Nothing written.",
                    current_etag=current.etag,
                )
            if current.is_paused is value:
                return Outcome(current, written=False)
            try:
                # The tag just read (strong), not the caller's (perhaps W/): If-Match compares strongly.
                written = self.set_paused(value, if_match=current.etag, reason=reason, budget=budget)
                return Outcome(written, written=True)
            except PreconditionFailed:
                # Our write was refused before it was applied (an unknown outcome raises OutcomeUnknown instead):
                # someone wrote in between. Read again, unless the caller named the version it decided on.
                if if_match is not None:
                    raise
        raise PreconditionFailed(
            f"The scheduler changed under each of {CONDITIONAL_WRITE_ATTEMPTS} conditional writes; nothing written.",
            current_etag=None,
        )

    def request(
        self, method: str, headers: dict[str, str] | None = None, body: bytes | None = None, *, signed: bool = True
    ) -> AWSResponse:
        """One raw exchange, no retry and no mapping of statuses to errors (``scheduler check`` uses it to
        see what AWS answers an unsigned request). Connection failures still raise ``Unreachable``."""
        return self._send(method, headers or {}, body, signed=signed)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SchedulerClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _exchange(  # noqa: PLR0913 - the request, its retry policy and budget, and where
        self,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
        policy: RetryPolicy,
        budget: Budget | None = None,
        *,
        url: str | None = None,
    ) -> AWSResponse:
        """One logical request: attempts until an answer, a refusal, ``policy.max_attempts`` or the budget. A
        write whose earlier attempt may have landed never ends in a refusal that would read as "not written"."""
        budget = budget or Budget(policy)
        if not budget.allows(0.0, self.timeout):  # a call sharing a budget: the read before it used it up
            raise Unreachable(f"{method} {self.url}: not tried, the call's {policy.total:g} s were used up before it.")
        attempt = 0
        maybe_landed: SchedulerError | None = None
        while True:
            budget.attempts += 1
            try:
                response = self._send(method, headers, body, url=url)
                error = error_of(response)
                if error is None:
                    return response
            except Unreachable as unreachable:
                error = unreachable
            if method != "GET" and _may_have_landed(error):
                maybe_landed = maybe_landed or error
            attempt += 1
            delay = policy.delay(attempt - 1, getattr(error, "retry_after", None))
            if attempt >= policy.max_attempts or not is_retryable(error) or not budget.allows(delay, self.timeout):
                raise _final(error, maybe_landed)
            policy.sleep(delay)

    def _send(
        self, method: str, headers: dict[str, str], body: bytes | None, *, signed: bool = True, url: str | None = None
    ) -> AWSResponse:
        target = url or self.url
        request = AWSRequest(method=method, url=target, data=body, headers={"Accept": "application/json", **headers})
        if signed and self._signer is not None:
            self._signer.sign(request)
        try:
            return self._http.send(request.prepare())
        except BotocoreConnectionError as error:  # refused, DNS, connect timeout, proxy, TLS: nothing was sent
            raise Unreachable(f"{method} {target}: no answer ({error})", maybe_delivered=False) from error
        except HTTPClientError as error:  # a read timeout or a reset after the request went out
            raise Unreachable(f"{method} {target}: no answer ({error})", maybe_delivered=True) from error


def _may_have_landed(error: SchedulerError) -> bool:
    """True when the write this attempt carried may have been applied although no success came back."""
    if isinstance(error, Unreachable):
        return error.maybe_delivered
    return error.status in AMBIGUOUS_STATUSES


def _final(error: SchedulerError, maybe_landed: SchedulerError | None) -> SchedulerError:
    """What a write ends in: its last error, unless an earlier attempt may have landed; then nobody knows."""
    if maybe_landed is None:
        return error
    return OutcomeUnknown(
        f"The write may or may not have been applied: an earlier attempt's answer was lost ({maybe_landed.message}) "
        f"and the last attempt got no confirmation ({error.message}). Nothing was written again: read the switch "
        "(scheduler status) before deciding.",
        status=error.status,
    )


def error_of(response: AWSResponse) -> SchedulerError | None:
    """The exception a response means; None for 2xx and 304."""
    status = response.status_code
    if 200 <= status < 300 or status == 304:
        return None
    text = _text_of(response)
    if status == 400:
        return InvalidUpdate(text, status=status)
    if status in (401, 403):
        return Forbidden(text, status=status)
    if status == 412:
        return PreconditionFailed(text, current_etag=response.headers.get("ETag"))
    if status in (429, 503):
        return Throttled(text, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        return ServerError(text, status=status)
    return RequestRefused(text, status=status)


def _text_of(response: AWSResponse) -> str:
    """The service's text; AWS's own refusals (403 from IAM, 429 from the stage throttle) are JSON
    ``{"message": ...}`` or ``{"Message": ...}``."""
    text = response.content.decode("utf-8", errors="replace").strip()
    if "json" in (response.headers.get("Content-Type") or ""):
        try:
            document: Any = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict):
            message = document.get("message") or document.get("Message")
            if isinstance(message, str):
                text = message
    return " ".join(text.split()) or f"HTTP {response.status_code} without a message"


def status_url(url: str) -> str:
    """The status view beside the resource: ``.../scheduler/`` gives ``.../scheduler/status``."""
    return url.rstrip("/") + "/status"


# Printable ASCII but "%" travels as itself; everything else percent-encoded (docs/api.md, Scheduler-Reason).
_REASON_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


def encode_reason(reason: str) -> str:
    """The Scheduler-Reason header's value for ``reason``; ValueError for one the service would refuse."""
    problem = reason_problem(reason)
    if problem is not None:
        raise ValueError(f"the reason {problem}")
    return quote(reason, safe=_REASON_SAFE)


def _document_of(response: AWSResponse) -> dict[str, Any]:
    document: Any = json.loads(response.content)
    return document if isinstance(document, dict) else {}


def _state_of(response: AWSResponse) -> SchedulerState:
    try:
        document: Any = json.loads(response.content)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("is_paused"), bool):
        raise ServerError(
            f"HTTP {response.status_code} without the scheduler's state in its body: is the URL the scheduler's?",
            status=response.status_code,
        )
    return SchedulerState(
        is_paused=document["is_paused"],
        etag=response.headers.get("ETag"),
        last_modified=_changed_at(response.headers),
    )


def _changed_at(headers: Any) -> datetime | None:
    """When the write that set this version committed: the service's exact Scheduler-Changed-At (the instant the
    push message carries too), else Last-Modified, the HTTP validator, which may be a second later."""
    exact = headers.get("Scheduler-Changed-At")
    if exact and (moment := parse_iso_time(exact)) is not None:  # capped and checked there
        return moment
    return parse_http_date(headers.get("Last-Modified"))
