"""The HTTP edge: API Gateway REST proxy events in, proxy responses out.

Routing, body decoding, conditional headers and the mapping of errors to status codes live here; what a
valid update is lives in ``rules``, the item in ``store``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from scheduler_contract.actors import via_of
from scheduler_contract.message import format_time
from scheduler_service import errors, rules, store, validators
from scheduler_service.observability import logger, record_entry_missing, record_pause_change

SCHEDULER_PATHS = ("/scheduler", "/scheduler/")
STATUS_PATHS = ("/scheduler/status", "/scheduler/status/")
ALLOWED_METHODS = "GET, HEAD, PATCH"
STATUS_METHODS = "GET, HEAD"
_SPOKEN = {ALLOWED_METHODS: "GET, HEAD or PATCH", STATUS_METHODS: "GET or HEAD"}
ACCEPT_PATCH = ", ".join(rules.PATCH_MEDIA_TYPES)

# Fixed 5xx texts: they never carry an exception, a library name or a trace. The details go to the log.
MISSING_ENTRY_TEXT = "The scheduler entry is missing from the database. An operator must restore it."
INTERNAL_ERROR_TEXT = "Internal server error. The request id in the log tells an operator what happened."
THROTTLED_TEXT = "The scheduler database is busy. Retry the request shortly."

_READ_HEADERS = frozenset(
    {
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "if-modified-since",
        "idempotency-key",
        "scheduler-reason",
        "content-type",
        "host",
        "x-forwarded-proto",
    }
)
_THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})

Response = dict[str, Any]


def is_proxy_event(event: Any) -> bool:
    """API Gateway REST proxy events carry these keys; direct invocations do not."""
    return isinstance(event, dict) and "httpMethod" in event and "requestContext" in event


def handle(event: dict[str, Any], request_id: str) -> Response:
    """Answer one REST proxy event; ``request_id`` is Lambda's, the token of a write that brings no key."""
    path = event.get("path") or "/"
    method = str(event.get("httpMethod", "")).upper()
    if _is_path(path, event.get("resource"), STATUS_PATHS):
        routes, allowed = _STATUS_ROUTES, STATUS_METHODS
    elif _is_path(path, event.get("resource"), SCHEDULER_PATHS):
        routes, allowed = _ROUTES, ALLOWED_METHODS
    else:
        return text_response(404, f"No resource at {json.dumps(path)}. The scheduler is at /scheduler/.")
    route = routes.get(method)
    if route is None:
        return text_response(
            405,
            f"Method {json.dumps(method)} is not allowed here. Use {_SPOKEN[allowed]}.",
            {"Allow": allowed},
        )
    headers = _lowercase_headers(event)
    try:
        return route(event, headers, request_id)
    except errors.InvalidSchedulerUpdate as error:
        return text_response(400, str(error))
    except rules.UnsupportedMediaType as error:
        return text_response(415, str(error), {"Accept-Patch": ACCEPT_PATCH})
    except errors.IdempotencyKeyReused as error:
        return text_response(422, str(error))
    except errors.SchedulerEntryMissing:
        record_entry_missing("http")
        return text_response(500, MISSING_ENTRY_TEXT)
    except Exception as error:  # the last line of defence: the client gets a fixed text, the log gets all
        code = _aws_error_code(error)
        if code in _THROTTLING_CODES:
            logger.warning("DynamoDB throttled the request", extra={"error_code": code})
            return text_response(503, THROTTLED_TEXT, {"Retry-After": "1"})
        logger.exception("Unexpected error", extra={"error_code": code})
        return text_response(500, INTERNAL_ERROR_TEXT)


def _is_path(path: str, resource: Any, paths: tuple[str, str]) -> bool:
    """One of ``paths``; behind a custom domain's base path mapping (/base/scheduler/) the gateway's matched
    resource confirms it."""
    return path in paths or (resource == paths[0] and path.endswith(paths))


def get_scheduler(event: dict[str, Any], headers: dict[str, str], request_id: str) -> Response:
    return _conditional_read(headers, json_response)


def get_status(event: dict[str, Any], headers: dict[str, str], request_id: str) -> Response:
    """The status view: the state with who changed it, when, through what and why, and the maintenance windows
    whose leases hold it. The same ETag as /scheduler/ (the same write makes both)."""
    return _conditional_read(headers, status_response)


def _conditional_read(headers: dict[str, str], render: Callable[[int, store.Entry], Response]) -> Response:
    preconditions = _preconditions(headers)
    if preconditions.unsatisfiable:
        return _no_version_named()
    state = store.read_state()
    outcome = validators.read_outcome(preconditions, state.tag, validators.validator_time(state.updated_at))
    if outcome == 304:
        return {"statusCode": 304, "headers": _version_headers(state), "body": ""}
    if outcome == 412:
        return _changed_since(state)
    return render(200, state)


def _without_body(get: Callable[[dict[str, Any], dict[str, str], str], Response]) -> Callable[..., Response]:
    def head(event: dict[str, Any], headers: dict[str, str], request_id: str) -> Response:
        """GET without the body: the same status and headers, Content-Length included (RFC 9110 section 9.3.2:
        the length GET's body would have)."""
        answer = get(event, headers, request_id)
        length = len(str(answer["body"]).encode("utf-8"))
        return {**answer, "headers": {**answer["headers"], "Content-Length": str(length)}, "body": ""}

    return head


head_scheduler = _without_body(get_scheduler)
head_status = _without_body(get_status)


def patch_scheduler(event: dict[str, Any], headers: dict[str, str], request_id: str) -> Response:
    # Everything the request can get wrong is judged before the one write; rejected input costs no I/O.
    rules.check_patch_media_type(headers.get("content-type"))
    update = rules.parse_update(rules.parse_json_body(_body_bytes(event)))
    preconditions = _preconditions(headers, reading=False)
    reason = rules.parse_reason(headers.get("scheduler-reason"), header=True)
    caller = caller_of(event)
    key = headers.get("idempotency-key")
    token = f"http:{caller}:{rules.parse_idempotency_key(key)}" if key is not None else f"request:{request_id}"
    write = store.WriteRequest(actor=caller, token=token, request_id=request_id, reason=reason)
    try:
        state = store.write_pause(update.is_paused, write, preconditions)
    except errors.SchedulerPreconditionFailed as failure:
        return _no_version_named() if failure.current is None else _changed_since(failure.current)
    record_pause_change(state)
    return json_response(201, state, {"Location": request_url(event, headers)})


_ROUTES: dict[str, Callable[[dict[str, Any], dict[str, str], str], Response]] = {
    "GET": get_scheduler,
    "HEAD": head_scheduler,
    "PATCH": patch_scheduler,
}
_STATUS_ROUTES: dict[str, Callable[[dict[str, Any], dict[str, str], str], Response]] = {
    "GET": get_status,
    "HEAD": head_status,
}


def _preconditions(headers: dict[str, str], *, reading: bool = True) -> validators.Preconditions:
    return validators.parse_preconditions(
        if_match=headers.get("if-match"),
        if_unmodified_since=headers.get("if-unmodified-since"),
        if_none_match=headers.get("if-none-match"),
        # RFC 9110: If-Modified-Since applies to GET and HEAD only.
        if_modified_since=headers.get("if-modified-since") if reading else None,
    )


def _no_version_named() -> Response:
    return text_response(412, "If-Match names no version of the scheduler. GET it again for its ETag.")


def _changed_since(current: store.Entry) -> Response:
    return text_response(
        412,
        "The scheduler does not meet the request's preconditions (If-Match, If-Unmodified-Since or "
        "If-None-Match). GET it again and retry.",
        _version_headers(current),
    )


def caller_of(event: dict[str, Any]) -> str:
    """Who is calling, as API Gateway's IAM authorisation saw it."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    for key in ("userArn", "caller", "user", "accountId"):
        value = identity.get(key)
        if value:
            return str(value)
    return "anonymous"


def request_url(event: dict[str, Any], headers: dict[str, str]) -> str:
    """The URL the client called, stage prefix included, without the query string."""
    context = event.get("requestContext") or {}
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = context.get("domainName") or headers.get("host") or "localhost"
    path = event.get("path") or "/"
    # On AWS requestContext.path carries the stage (/Prod/scheduler/); a local gateway may put the
    # resource there instead, so use it only when it ends with the path actually requested.
    full_path = context.get("path") or ""
    return f"{scheme}://{host}{full_path if full_path.endswith(path) else path}"


def json_response(status: int, state: store.Entry, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {"Content-Type": "application/json", **_version_headers(state), **(extra_headers or {})}
    return {"statusCode": status, "headers": headers, "body": json.dumps({"is_paused": state.is_paused})}


def status_response(status: int, state: store.Entry) -> Response:
    windows = [
        {"name": holder.rsplit(":", 1)[-1], "execution": holder, "until": _iso_of_epoch(expires_at)}
        for holder, expires_at in sorted(state.leases.items(), key=lambda lease: lease[1])
    ]
    document = {
        "is_paused": state.is_paused,
        "etag": state.etag,
        "version": state.version,
        "updated_at": state.updated_at,
        "updated_by": state.updated_by,
        "via": via_of(state.updated_by),
        "reason": state.reason or None,
        "windows": windows,
        "stage": os.environ.get("STAGE", "local"),
    }
    headers = {"Content-Type": "application/json", **_version_headers(state)}
    return {"statusCode": status, "headers": headers, "body": json.dumps(document)}


def _iso_of_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def text_response(status: int, text: str, extra_headers: dict[str, str] | None = None) -> Response:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain", **(extra_headers or {})}, "body": text}


def _version_headers(state: store.Entry) -> dict[str, str]:
    # no-cache: nodes may keep a copy but must revalidate it (If-None-Match) before trusting it.
    headers = {"ETag": state.etag, "Cache-Control": "no-cache"}
    last_modified = validators.last_modified(validators.validator_time(state.updated_at), store.clock())
    if last_modified is not None:
        headers["Last-Modified"] = validators.format_http_date(last_modified)
    elif state.updated_at:  # an entry written by hand; the ETag still identifies the representation
        logger.warning("updated_at is not an ISO 8601 time", extra={"updated_at": state.updated_at})
    changed_at = validators.iso_time(state.updated_at)
    if changed_at is not None:  # the instant people are shown (the CLI, the console): not a validator
        headers["Scheduler-Changed-At"] = format_time(changed_at)
    return headers


def _body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidSchedulerUpdate("The request body is not valid base64.") from None
    # Lone surrogates become bytes that are not UTF-8, which the rules then reject with a 400.
    return str(body).encode("utf-8", errors="surrogatepass")


def _lowercase_headers(event: dict[str, Any]) -> dict[str, str]:
    """The request headers this edge reads, by lower-case name (HTTP names are case-insensitive; API Gateway
    passes them as the client wrote them). A header sent on several lines is whole only in multiValueHeaders."""
    headers: dict[str, str] = {}
    for name, value in (event.get("headers") or {}).items():
        key = name.lower()
        if key in _READ_HEADERS and value is not None:
            headers[key] = str(value)
    for name, values in (event.get("multiValueHeaders") or {}).items():
        key = name.lower()
        if key in _READ_HEADERS and values and (len(values) > 1 or key not in headers):
            headers[key] = ", ".join(str(value) for value in values)
    return headers


def _aws_error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
